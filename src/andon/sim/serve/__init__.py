"""The virtual plant's protocol servers: it speaks OPC UA, Modbus TCP and MQTT like a real one."""
