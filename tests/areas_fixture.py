"""A hand-made population of three areas, 2010-2013, with criteria just above and below the thresholds.

Everyone is 40 years old, so every criterion's age band holds every resident. Per area and year the
counts below fix each criterion's share exactly; incomes are set so that an area's mean gross income over
its region's mean is exactly the ratio given (the region's mean is 200,000 kr every year).
"""

from __future__ import annotations

import polars as pl

YEARS = (2010, 2011, 2012, 2013)
TOTAL = 10_000  # persons in the region (and the country) every year
REGION_MEAN = 200_000.0
# area -> afdeling -> persons; afdeling -> year -> persons outside work and education
SIZES = {"A": {"A1": 1000}, "B": {"B1": 999}, "C": {"C1": 800, "C2": 700}}
OUTSIDE = {
    "A1": {2010: 420, 2011: 390, 2012: 440, 2013: 440},
    "B1": dict.fromkeys(YEARS, 500),
    "C1": {2010: 360, 2011: 360, 2012: 360, 2013: 416},
    "C2": {2010: 273, 2011: 273, 2012: 273, 2013: 217},
}
NON_WESTERN = {"A": {2010: 550, 2011: 550, 2012: 450, 2013: 450}, "B": dict.fromkeys(YEARS, 600),
               "C": dict.fromkeys(YEARS, 900)}
CONVICTED = {"A": {2010: 30, 2011: 20, 2012: 30, 2013: 30}, "B": dict.fromkeys(YEARS, 50),
             "C": dict.fromkeys(YEARS, 0)}
REST_CONVICTED = 20  # so the national share is 1.0 %, 0.9 %, 1.0 %, 1.0 %
# (grundskole H10, unknown)
BASIC = {"A": {2010: (450, 100), 2011: (450, 100), 2012: (620, 0), 2013: (620, 0)},
         "B": dict.fromkeys(YEARS, (700, 0)), "C": dict.fromkeys(YEARS, (1050, 0))}
RATIO = {"A": {2010: 0.5, 2011: 0.5, 2012: 0.6, 2013: 0.5}, "B": dict.fromkeys(YEARS, 0.3),
         "C": dict.fromkeys(YEARS, 0.4)}


def persons() -> pl.DataFrame:
    """Person-years: unit (area), afdeling, year, and the columns the criteria read."""
    rows: dict[str, list] = {c: [] for c in ("area", "afdeling", "year", "age", "non_western", "socio_category",
                                             "education_level", "convicted", "gross_income", "region")}
    for year in YEARS:
        in_areas = 0
        area_income = 0.0
        for area, afds in SIZES.items():
            n_area = sum(afds.values())
            flags = {"nw": NON_WESTERN[area][year], "conv": CONVICTED[area][year]}
            basic, unknown = BASIC[area][year]
            income = RATIO[area][year] * REGION_MEAN
            i = 0
            for afd, size in afds.items():
                for j in range(size):
                    rows["area"].append(area)
                    rows["afdeling"].append(afd)
                    rows["year"].append(year)
                    rows["age"].append(40)
                    rows["non_western"].append(i < flags["nw"])
                    rows["socio_category"].append("cash_benefit" if j < OUTSIDE[afd][year] else "employed")
                    rows["education_level"].append("H10" if i < basic else (None if i < basic + unknown else "H30"))
                    rows["convicted"].append(i < flags["conv"])
                    rows["gross_income"].append(income)
                    rows["region"].append(1)
                    i += 1
            in_areas += n_area
            area_income += n_area * income
        rest = TOTAL - in_areas
        rest_income = (TOTAL * REGION_MEAN - area_income) / rest
        for k in range(rest):
            rows["area"].append(None)
            rows["afdeling"].append(None)
            rows["year"].append(year)
            rows["age"].append(40)
            rows["non_western"].append(False)
            rows["socio_category"].append("employed")
            rows["education_level"].append("H30")
            rows["convicted"].append(k < REST_CONVICTED)
            rows["gross_income"].append(rest_income)
            rows["region"].append(1)
    return pl.DataFrame(rows, schema_overrides={"year": pl.Int32, "age": pl.Int16, "region": pl.Int16})
