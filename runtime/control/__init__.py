"""The control plane: one set of operations (commands.py) that the MQTT fleet link and the REST
API both call, the device state they report (state.py) and the applied config (desired.py)."""
