"""The trends evaluation as tables: rich for the terminal, Markdown for docs/trends.md.

One row per sensitivity h of the sweep: false change reports per home-month on the unchanged
simulated homes and on the public homes (with their 95 % intervals), and per injected change type
the median detection delay in days and the share of homes where it was reported within 14 days.
Then the same at the default h for each threshold of the count CUSUM (night-time toilet visits),
and per change type at the default h: how often a lasting change was told again after its first
report (per home-month followed after it; a change should be reported once).
"""

from __future__ import annotations

from typing import Any

from hometwin.evaluation.tables import Section, section_markdown, section_tables
from hometwin.evaluation.trends import WITHIN_DAYS
from hometwin.sim.changes import CHANGE_KINDS

SHORT = {"night_toilet_x2": "toilet x2", "wake_later_90": "up +90'", "kitchen_half": "kitchen /2",
         "outings_stop": "no outings", "more_bed": "bed +1.5h"}


def _rate(r: dict[str, Any]) -> str:
    if r.get("per_home_month") is None:
        return "-"
    ci = r.get("per_home_month_ci")
    text = f"{r['per_home_month']:.2f}"
    return f"{text} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else text


def _type(t: dict[str, Any], follow: int) -> str:
    if not t["homes"]:
        return "n/a"
    delay = f"> {follow} d" if t["median_delay_days"] is None else f"{t['median_delay_days']:g} d"
    share = t[f"share_within_{WITHIN_DAYS}_days"]
    return f"{delay}, {100 * share:.0f} %"


def sweep_section(result: dict[str, Any]) -> Section:
    kinds = [k for k in CHANGE_KINDS if result["sweep"] and k in result["sweep"][0]["types"]]
    default = result["config"]["params"]["default_h"]
    follow = result["config"]["follow_days"]
    header = ["h", "false / home-month (sim)", "false / home-month (public)",
              *(f"{SHORT[k]}: median, <= {WITHIN_DAYS} d" for k in kinds)]
    rows = [[f"{row['h']:g}" + (" *" if row["h"] == default else ""), _rate(row["false_sim"]),
             _rate(row["false_public"]), *(_type(row["types"][k], follow) for k in kinds)] for row in result["sweep"]]
    seeds = ", ".join(str(s) for s in result["config"]["population_seeds"])
    title = (f"Change reports by sensitivity h (* default): {result['sim_homes']} simulated homes of populations "
             f"{seeds}, {result['config']['baseline_days']} days unchanged then {result['config']['follow_days']} "
             "days followed")
    return title, header, rows


def count_section(result: dict[str, Any]) -> Section:
    rows_in = result.get("count_sweep") or []
    kinds = [k for k in CHANGE_KINDS if rows_in and k in rows_in[0]["types"]]
    params = result["config"]["params"]
    follow = result["config"]["follow_days"]
    header = ["h_count", "false / home-month (sim)", "false / home-month (public)",
              *(f"{SHORT[k]}: median, <= {WITHIN_DAYS} d" for k in kinds)]
    rows = [[(f"{row['h_count']:g}" if row["h_count"] else "0 (off)")
             + (" *" if row["h_count"] == params.get("default_h_count") else ""),
             _rate(row["false_sim"]), _rate(row["false_public"]), *(_type(row["types"][k], follow) for k in kinds)]
            for row in rows_in]
    title = (f"Count CUSUM threshold h_count (* default) at h = {params['default_h']:g}: one more toilet visit "
             "a night against the Poisson normal")
    return title, header, rows


def types_section(result: dict[str, Any]) -> Section:
    row = result.get("default") or result["sweep"][0]
    again = result.get("told_again") or {}
    header = ["change", "ramp (days)", "homes", "not applicable", "reported", "median delay (days)",
              f"within {WITHIN_DAYS} days", "told again / home-month after"]
    rows = []
    for kind, t in row["types"].items():
        share = t[f"share_within_{WITHIN_DAYS}_days"]
        rows.append([CHANGE_KINDS[kind], str(result["config"]["ramp_days"][kind]), str(t["homes"]),
                     str(t["not_applicable"]), str(t["detected"]),
                     f"> {result['config']['follow_days']}" if t["median_delay_days"] is None
                     else f"{t['median_delay_days']:g}",
                     "-" if share is None else f"{100 * share:.0f} %", _rate(again.get(kind, {}))])
    return f"Injected changes at the default h = {row['h']:g}", header, rows


def public_section(result: dict[str, Any]) -> Section:
    h = str(result["config"]["params"]["default_h"])
    header = ["home", "days", "monitored days", f"false reports at h = {h}"]
    rows = [[p["home"], str(p["days"]), str(p["monitored_days"]), str(p["reports"].get(h, "-"))]
            for p in result["public_homes"]]
    note = result.get("public_note", "")
    return "Public homes (no injected change)" + (f": {note}" if note else ""), header, rows


def sections(result: dict[str, Any]) -> list[Section]:
    counts = [count_section(result)] if result.get("count_sweep") else []
    return [sweep_section(result), *counts, types_section(result), public_section(result)]


def rich_tables(result: dict[str, Any]) -> list[Any]:
    return section_tables(sections(result))


def markdown(result: dict[str, Any]) -> str:
    return "\n\n".join(section_markdown(sections(result))) + "\n"
