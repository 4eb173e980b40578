"""An independent oracle for the heat lag: the ODEs integrated numerically, step by step.

    dT/dt = (T_surroundings - T) / tau          dV/dt = rate * (1 + k * max(0, T - 37 °C))

by the classic fourth-order Runge-Kutta method at a fixed step of at most 0.1 s, in floats,
with nothing taken from the model's closed forms (firmware_model/heat.py, flow.py). The
surroundings and the programmed rate are piecewise constant and change only on the grid.

Its own error: on a smooth stretch RK4's error per step is of order (h/tau)^5 of the
amplitude, nothing at these steps; where T crosses 37 °C inside a step the integrand has a
kink and that step's error is of order rate * k * |dT/dt| * h^2, under 1e-5 nL here; adding
some 10^5 steps in doubles loses under 1e-6 nL. ``TOLERANCE_NL`` covers all of it with a wide
margin. Times it reports are on its grid, or linearly interpolated between two grid points.
"""

from __future__ import annotations

from dataclasses import dataclass

BODY_C = 37.0
TOLERANCE_NL = 0.01  # the oracle's own error bound, volumes (see above)
STEP_S = 0.1


@dataclass(frozen=True)
class Trajectory:
    step_s: float
    temperatures_c: list[float]  # at each grid point
    volumes_nl: list[float]  # delivered since t = 0, at each grid point
    programmed_nl: list[float]  # programmed (at 37 °C) since t = 0, at each grid point

    def index(self, t_s: float) -> int:
        i = round(t_s / self.step_s)
        assert abs(i * self.step_s - t_s) < 1e-6, f"{t_s} s is not on the oracle's grid"
        return i

    def volume_nl(self, t_s: float) -> float:
        return self.volumes_nl[self.index(t_s)]

    def excess_nl(self, i: int, window_s: float, tolerance: float) -> float:
        """Delivered minus (1 + tolerance) x programmed over the window ending at grid i."""
        back = max(0, i - round(window_s / self.step_s))
        delivered = self.volumes_nl[i] - self.volumes_nl[back]
        programmed = self.programmed_nl[i] - self.programmed_nl[back]
        return delivered - (1 + tolerance) * programmed

    def over_infusion_s(
        self, after_s: float, window_s: float, tolerance: float, *, entering: bool = True
    ) -> tuple[float, float, float]:
        """When the window excess first goes above zero (or, not entering, back to zero or
        below) after ``after_s``: see ``first_above_s``."""
        start = self.index(after_s)
        sign = 1 if entering else -1
        excess = [
            sign * self.excess_nl(i, window_s, tolerance) for i in range(len(self.volumes_nl))
        ]
        return first_above_s(excess, 0.0, start, self.step_s, TOLERANCE_NL)

    def crossing_37_s(self, after_s: float) -> float:
        """The first time after ``after_s`` the temperature crosses 37 °C, interpolated."""
        temps = self.temperatures_c
        for k in range(self.index(after_s), len(temps) - 1):
            a, b = temps[k] - BODY_C, temps[k + 1] - BODY_C
            if a != 0 and (a > 0) != (b > 0):
                return (k + a / (a - b)) * self.step_s
        raise AssertionError("the oracle's temperature never crosses 37 C")


def simulate(
    *,
    tau_s: float,
    k_per_c: float,
    rates_nl_per_day: list[tuple[float, float]],
    surroundings_c: list[tuple[float, float]],
    end_s: float,
    step_s: float = STEP_S,
) -> Trajectory:
    """Integrate from t = 0 (body at 37 °C) to ``end_s``. ``rates_nl_per_day`` and
    ``surroundings_c`` are (from time s, value) changes; before the first, 0 and 37 °C."""
    assert step_s <= 0.1
    steps = round(end_s / step_s)
    rate_changes = {round(t / step_s): r / 86_400 for t, r in rates_nl_per_day}
    surround_changes = {round(t / step_s): c for t, c in surroundings_c}
    temperature, volume, programmed = BODY_C, 0.0, 0.0
    rate_per_s, surround = 0.0, BODY_C
    temperatures, volumes, programmeds = [temperature], [volume], [programmed]
    h = step_s

    def warming(t: float) -> float:
        return (surround - t) / tau_s

    def flow(t: float) -> float:
        return rate_per_s * (1 + k_per_c * max(0.0, t - BODY_C))

    for i in range(steps):
        rate_per_s = rate_changes.get(i, rate_per_s)
        surround = surround_changes.get(i, surround)
        k1 = warming(temperature)
        t2 = temperature + h / 2 * k1
        k2 = warming(t2)
        t3 = temperature + h / 2 * k2
        k3 = warming(t3)
        t4 = temperature + h * k3
        k4 = warming(t4)
        volume += h / 6 * (flow(temperature) + 2 * flow(t2) + 2 * flow(t3) + flow(t4))
        temperature += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        programmed += h * rate_per_s
        temperatures.append(temperature)
        volumes.append(volume)
        programmeds.append(programmed)
    return Trajectory(step_s, temperatures, volumes, programmeds)


def first_above_s(
    series: list[float], level: float, start: int, step_s: float, tolerance: float
) -> tuple[float, float, float]:
    """When ``series`` (on the grid, from index ``start``) first rises above ``level``:
    (the last grid time it is clearly below, the crossing interpolated between grid points,
    the first grid time it is clearly above), "clearly" meaning by more than ``tolerance``."""
    for k in range(start, len(series) - 1):
        before, now = series[k] - level, series[k + 1] - level
        if before <= 0 < now:
            below = next(j for j in range(k, -1, -1) if series[j] - level < -tolerance)
            above = next(j for j in range(k + 1, len(series)) if series[j] - level > tolerance)
            return below * step_s, (k + before / (before - now)) * step_s, above * step_s
    raise AssertionError("the oracle's series never rises above the level")
