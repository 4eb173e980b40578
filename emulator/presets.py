"""Known pumps a test rig can reset to (docs/control.md): each a documented starting point."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from firmware_model import Pump, PumpConfig
from firmware_model.prescription import Flex, FlexStep, Prescription

# The worked example of docs/domain.md [M]: 20 mL of 500 ug/mL at 200 ug/day (0.4 mL/day).
WORKED_CONCENTRATION_UG_PER_ML = 500
WORKED_DOSE_UG_PER_DAY = 200
DEFAULT_PRESET = "worked-example"


@dataclass(frozen=True, slots=True)
class Preset:
    meaning: str
    build: Callable[[Pump], None]  # fills and programs a new pump whose clock is set


def _worked_example(pump: Pump) -> None:
    pump.refill(pump.config.reservoir_capacity_nl, WORKED_CONCENTRATION_UG_PER_ML)
    pump.set_dose(WORKED_DOSE_UG_PER_DAY)


def _stopped(pump: Pump) -> None:
    _worked_example(pump)
    pump.stop(confirm=True)


def _flex(pump: Pump) -> None:
    pump.refill(pump.config.reservoir_capacity_nl, WORKED_CONCENTRATION_UG_PER_ML)
    steps = (FlexStep(0, 200), FlexStep(8 * 3600, 300), FlexStep(20 * 3600, 150))
    pump.apply_prescription(
        Prescription(basal=Flex(steps), patient=None, low_reservoir_nl=pump.low_reservoir_nl),
        start=True,
    )


def _unprogrammed(pump: Pump) -> None:
    pump.refill(pump.config.reservoir_capacity_nl, WORKED_CONCENTRATION_UG_PER_ML)


PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        DEFAULT_PRESET: Preset(
            "full reservoir of baclofen 500 ug/mL, continuous 200 ug/day, infusing "
            "(docs/domain.md: the low-reservoir alarm sounds at day 45)",
            _worked_example,
        ),
        "stopped": Preset("the worked example, stopped by a clinician", _stopped),
        "flex": Preset(
            "full reservoir of 500 ug/mL, flex 00:00=200 08:00=300 20:00=150 ug/day (UTC)",
            _flex,
        ),
        "unprogrammed": Preset(
            "full reservoir of 500 ug/mL, no prescription, stopped", _unprogrammed
        ),
    }
)


def build_preset(name: str, config: PumpConfig, clock_us: int) -> Pump:
    """A new pump in the named state; its clock reads ``clock_us``. KeyError names the choices."""
    preset = PRESETS.get(name)
    if preset is None:
        raise KeyError(f"no preset {name!r}; presets: {', '.join(PRESETS)}")
    pump = Pump(config)
    pump.set_clock(clock_us)
    preset.build(pump)
    return pump
