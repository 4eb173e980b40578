"""The Modbus peer: pymodbus's async RTU serial server at end A, its async client at end B
reading 10 holding registers per request, as a Modbus master polls a device.

``python -m benchmarks.peer_modbus PORT READY_FILE`` serves end A until killed.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from pathlib import Path
from typing import Any

REGISTERS = 10
DEVICE_ID = 1
BAUD = 115_200  # a pty ignores it; pymodbus derives its RTU inter-frame gaps from it


async def _serve(port: str, ready_file: Path) -> None:
    store: Any = importlib.import_module("pymodbus.datastore")  # typed as Any: an extra
    serial_server: Any = importlib.import_module("pymodbus.server").ModbusSerialServer
    block = store.ModbusSequentialDataBlock(1, list(range(100, 100 + 2 * REGISTERS)))
    device = store.ModbusDeviceContext(hr=block)
    context = store.ModbusServerContext(devices={DEVICE_ID: device}, single=False)
    server = serial_server(context, port=port, baudrate=BAUD)
    task = asyncio.create_task(server.serve_forever())
    for _ in range(1000):  # until the port is open: then the pair's end A is ours
        if getattr(server, "transport", None) is not None or task.done():
            break
        await asyncio.sleep(0.01)
    ready_file.write_text("ready\n")
    await task


async def _round_trips(port: str, count: int, warmup: int) -> tuple[list[float], float]:
    client_class: Any = importlib.import_module("pymodbus.client").AsyncModbusSerialClient
    client = client_class(port, baudrate=BAUD, timeout=2, retries=3)
    if not await client.connect():
        raise RuntimeError(f"pymodbus could not open {port}")
    times: list[float] = []
    clock = time.perf_counter
    try:
        for _ in range(warmup):
            await _read(client)
        started = clock()
        for _ in range(count):
            t0 = clock()
            await _read(client)
            times.append(clock() - t0)
        wall_s = clock() - started
    finally:
        client.close()
    return times, wall_s


async def _read(client: Any) -> None:
    reply = await client.read_holding_registers(0, count=REGISTERS, device_id=DEVICE_ID)
    if reply.isError() or len(reply.registers) != REGISTERS:
        raise RuntimeError(f"pymodbus read failed: {reply}")


def round_trips(port: str, count: int, warmup: int = 20) -> tuple[list[float], float]:
    """``count`` timed reads of 10 holding registers from end B after ``warmup`` untimed
    ones: each read's time and the timed loop's wall time, in seconds."""
    return asyncio.run(_round_trips(port, count, warmup))


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], Path(sys.argv[2])))
