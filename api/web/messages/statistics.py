"""Words of the console's statistics pages (keys ``statistics.*``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

MESSAGES: Final[Mapping[str, Mapping[str, str]]] = {
    "statistics.title": {"en": "Statistics explorer", "es": "Explorador de estadísticas"},
    "statistics.intro": {
        "en": (
            "How often agents did not identify themselves, counted from the reports, with "
            "small groups left out. Choose the period, the grouping and what is counted."
        ),
        "es": (
            "Con qué frecuencia los agentes no se identificaron, contado a partir de los "
            "reportes, sin los grupos pequeños. Elija el período, la agrupación y qué se cuenta."
        ),
    },
    "statistics.filters": {"en": "Filters", "es": "Filtros"},
    "statistics.from": {"en": "From (first day)", "es": "Desde (primer día)"},
    "statistics.to": {"en": "To (last day)", "es": "Hasta (último día)"},
    "statistics.group_by": {"en": "Group by", "es": "Agrupar por"},
    "statistics.dimension_month": {"en": "Month", "es": "Mes"},
    "statistics.dimension_week": {"en": "Week (ISO)", "es": "Semana (ISO)"},
    "statistics.dimension_area": {"en": "Area (H3 cell)", "es": "Zona (celda H3)"},
    "statistics.dimension_agency": {"en": "Agency", "es": "Agencia"},
    "statistics.area_resolution": {
        "en": "Area size (H3 resolution)",
        "es": "Tamaño de zona (resolución H3)",
    },
    "statistics.resolution_5": {"en": "5 (about 250 km²)", "es": "5 (unos 250 km²)"},
    "statistics.resolution_6": {"en": "6 (about 36 km²)", "es": "6 (unos 36 km²)"},
    "statistics.resolution_7": {"en": "7 (about 5 km²)", "es": "7 (unos 5 km²)"},
    "statistics.status": {"en": "Reports counted", "es": "Reportes contados"},
    "statistics.status_all": {
        "en": "All (not withdrawn, not rejected)",
        "es": "Todos (ni retirados ni rechazados)",
    },
    "statistics.status_verified": {
        "en": "Verified by a moderator only",
        "es": "Solo los verificados por un moderador",
    },
    "statistics.unit": {"en": "Count", "es": "Contar"},
    "statistics.unit_incident": {"en": "Incidents", "es": "Incidentes"},
    "statistics.unit_report": {"en": "Reports", "es": "Reportes"},
    "statistics.invalid": {
        "en": "The filters were not valid; nothing was counted. Correct the field marked.",
        "es": "Los filtros no son válidos; no se contó nada. Corrija el campo señalado.",
    },
    "statistics.invalid_from": {
        "en": "Enter a day as YYYY-MM-DD, from 2000-01-01 to 2100-12-31, not after the last day.",
        "es": "Ingrese un día como AAAA-MM-DD, de 2000-01-01 a 2100-12-31, no posterior al último.",
    },
    "statistics.invalid_to": {
        "en": "Enter a day as YYYY-MM-DD, from 2000-01-01 to 2100-12-31.",
        "es": "Ingrese un día como AAAA-MM-DD, de 2000-01-01 a 2100-12-31.",
    },
    "statistics.invalid_group_by": {
        "en": "Choose each grouping at most once, from the list.",
        "es": "Elija cada agrupación a lo sumo una vez, de la lista.",
    },
    "statistics.invalid_area_resolution": {
        "en": "Choose an area size from 5 to 7.",
        "es": "Elija un tamaño de zona de 5 a 7.",
    },
    "statistics.invalid_status": {
        "en": "Choose all or verified reports.",
        "es": "Elija todos los reportes o solo los verificados.",
    },
    "statistics.invalid_unit": {
        "en": "Choose incidents or reports.",
        "es": "Elija incidentes o reportes.",
    },
    "statistics.result": {"en": "Result", "es": "Resultado"},
    "statistics.period_answered": {
        "en": "Period answered: {start} to {end} ({time_zone}).",
        "es": "Período respondido: {start} a {end} ({time_zone}).",
    },
    "statistics.first_report": {"en": "the first report", "es": "el primer reporte"},
    "statistics.last_report": {"en": "the latest report", "es": "el último reporte"},
    "statistics.snapped_month": {
        "en": (
            "The period asked for was widened to whole months, so that no two tables can "
            "differ by a few days."
        ),
        "es": (
            "El período pedido se amplió a meses completos, para que dos tablas no puedan "
            "diferir en unos pocos días."
        ),
    },
    "statistics.snapped_week": {
        "en": (
            "The period asked for was widened to whole ISO weeks, so that no two tables can "
            "differ by a few days."
        ),
        "es": (
            "El período pedido se amplió a semanas ISO completas, para que dos tablas no "
            "puedan diferir en unos pocos días."
        ),
    },
    "statistics.period_month": {"en": "month", "es": "mes"},
    "statistics.period_week": {"en": "week", "es": "semana"},
    "statistics.suppressed_note": {
        "en": (
            "Cells with fewer than {threshold} {unit} are not listed (they are suppressed, "
            "not zero), nor are the groups merged away to protect them."
        ),
        "es": (
            "Las celdas con menos de {threshold} {unit} no se muestran (están suprimidas, no "
            "son cero), ni los grupos fusionados para protegerlas."
        ),
    },
    "statistics.dataset_version": {
        "en": "Dataset version {version}: cite it with the figures.",
        "es": "Versión del conjunto de datos {version}: cítela junto con las cifras.",
    },
    "statistics.cell_count": {
        "en": "{count} cells listed.",
        "es": "{count} celdas listadas.",
    },
    "statistics.no_cells": {
        "en": "No cell reaches the threshold for these filters.",
        "es": "Ninguna celda alcanza el umbral con estos filtros.",
    },
    "statistics.table_caption": {
        "en": "Not-identified rate by cell, with its 95% Wilson interval",
        "es": "Tasa de no identificación por celda, con su intervalo de Wilson del 95%",
    },
    "statistics.total": {"en": "Total", "es": "Total"},
    "statistics.not_identified": {"en": "Not identified", "es": "No identificados"},
    "statistics.identified": {"en": "Identified", "es": "Identificados"},
    "statistics.unclear": {"en": "Unclear", "es": "No está claro"},
    "statistics.rate": {"en": "Rate not identified", "es": "Tasa de no identificación"},
    "statistics.interval": {"en": "95% interval", "es": "Intervalo del 95%"},
    "statistics.no_rate": {
        "en": "No identified or not-identified answers",
        "es": "Sin respuestas de identificado o no identificado",
    },
    "statistics.rows_shown": {
        "en": "Rows {first} to {last} of {count}. Every row is in the downloads.",
        "es": "Filas {first} a {last} de {count}. Todas las filas están en las descargas.",
    },
    "statistics.previous_rows": {"en": "Previous rows", "es": "Filas anteriores"},
    "statistics.next_rows": {"en": "Next rows", "es": "Filas siguientes"},
    "statistics.table_pages": {"en": "Table pages", "es": "Páginas de la tabla"},
    "statistics.chart": {
        "en": "Not-identified rate over time",
        "es": "Tasa de no identificación en el tiempo",
    },
    "statistics.chart_description": {
        "en": (
            "The not-identified rate of each {period} as a line, its 95% Wilson interval as a "
            "band; a {period} with no listed cell is a gap."
        ),
        "es": (
            "La tasa de no identificación de cada {period} como línea, su intervalo de Wilson "
            "del 95% como banda; un {period} sin celdas listadas es un hueco."
        ),
    },
    "statistics.chart_x": {"en": "Period", "es": "Período"},
    "statistics.chart_y": {"en": "Not identified", "es": "No identificados"},
    "statistics.chart_empty": {
        "en": "No period has a rate to draw.",
        "es": "Ningún período tiene una tasa que dibujar.",
    },
    "statistics.summed_note": {
        "en": (
            "Each {what} sums the listed cells of the table that share it; cells not listed "
            "are not in the sum, so it can be below that {what}'s own total."
        ),
        "es": (
            "Cada {what} suma las celdas listadas de la tabla que lo comparten; las celdas no "
            "listadas no entran en la suma, que puede quedar por debajo de su propio total."
        ),
    },
    "statistics.key_period": {"en": "period", "es": "período"},
    "statistics.key_area": {"en": "area", "es": "zona"},
    "statistics.map": {"en": "Map of areas", "es": "Mapa de zonas"},
    "statistics.map_description": {
        "en": (
            "Each listed H3 area as a hexagon coloured by its not-identified rate; hatched: "
            "listed, but no rate."
        ),
        "es": (
            "Cada zona H3 listada como un hexágono coloreado según su tasa de no "
            "identificación; rayada: listada, pero sin tasa."
        ),
    },
    "statistics.map_legend": {"en": "Rate not identified", "es": "Tasa de no identificación"},
    "statistics.map_absent": {
        "en": "Areas not drawn: no {unit}, or fewer than {threshold} (withheld).",
        "es": "Zonas no dibujadas: sin {unit}, o con menos de {threshold} (retenidas).",
    },
    "statistics.map_empty": {
        "en": "No area is listed for these filters.",
        "es": "Ninguna zona está listada con estos filtros.",
    },
    "statistics.methods": {"en": "Methods", "es": "Métodos"},
    "statistics.method_not_identified": {
        "en": (
            "Not identified: the agents did not say who they were, showed no badge and wore "
            "no visible insignia (all three answers are no)."
        ),
        "es": (
            "No identificados: los agentes no dijeron quiénes eran, no mostraron placa ni "
            "llevaban insignias visibles (las tres respuestas son no)."
        ),
    },
    "statistics.method_identified": {
        "en": "Identified: any of the three answers is yes.",
        "es": "Identificados: cualquiera de las tres respuestas es sí.",
    },
    "statistics.method_unclear": {
        "en": "Unclear: any other answer. Unclear is left out of the rate.",
        "es": "No está claro: cualquier otra respuesta. Se deja fuera de la tasa.",
    },
    "statistics.method_rate": {
        "en": "Rate: not identified divided by (not identified plus identified).",
        "es": "Tasa: no identificados dividido por (no identificados más identificados).",
    },
    "statistics.method_incidents": {
        "en": (
            "Incidents: reports within {distance} H3 grid steps and {window} minutes of each "
            "other are one incident, classified by the plurality of its reports (a tie is "
            "unclear). Reports: each report counted alone. Withdrawn and rejected reports "
            "never count."
        ),
        "es": (
            "Incidentes: los reportes a no más de {distance} pasos de la grilla H3 y "
            "{window} minutos entre sí son un incidente, clasificado por la mayoría de sus "
            "reportes (un empate es no está claro). Reportes: cada reporte por separado. Los "
            "reportes retirados o rechazados nunca cuentan."
        ),
    },
    "statistics.method_suppression": {
        "en": (
            "Suppression: within each month (or week), groups of fewer than {threshold} are "
            "merged step by step into coarser ones (kind, masking, agency, then larger areas) "
            "and kept once they reach the threshold; what is left is counted in no table. A "
            "table counts only groups kept at least as finely as it is grouped "
            "(complementary suppression): no combination of tables reveals a small group."
        ),
        "es": (
            "Supresión: dentro de cada mes (o semana), los grupos de menos de {threshold} se "
            "fusionan paso a paso en otros más gruesos (tipo, enmascaramiento, agencia, luego "
            "zonas más grandes) y se conservan al alcanzar el umbral; lo que queda no se "
            "cuenta en ninguna tabla. Una tabla cuenta solo grupos conservados al menos tan "
            "finos como su agrupación (supresión complementaria): ninguna combinación de "
            "tablas revela un grupo pequeño."
        ),
    },
    "statistics.method_wilson": {
        "en": (
            "Interval: the 95% Wilson score interval of the rate, which stays within 0 to "
            "100% and holds its coverage for small counts."
        ),
        "es": (
            "Intervalo: el intervalo de Wilson del 95% de la tasa, que queda entre 0 y 100% "
            "y mantiene su cobertura con conteos pequeños."
        ),
    },
    "statistics.method_time_zone": {
        "en": "Days, weeks and months are those of the time zone {time_zone}.",
        "es": "Los días, semanas y meses son los de la zona horaria {time_zone}.",
    },
    "statistics.method_version": {
        "en": (
            "The dataset version changes whenever the table would; the same data gives the "
            "same version."
        ),
        "es": (
            "La versión del conjunto de datos cambia cuando cambiaría la tabla; los mismos "
            "datos dan la misma versión."
        ),
    },
    "statistics.methods_as_exported": {
        "en": "The methods as the downloads carry them (in English)",
        "es": "Los métodos tal como los llevan las descargas (en inglés)",
    },
    "statistics.downloads": {"en": "Downloads", "es": "Descargas"},
    "statistics.downloads_intro": {
        "en": "The same table with the same filters, with its methods.",
        "es": "La misma tabla con los mismos filtros, con sus métodos.",
    },
    "statistics.download_csv": {"en": "Download CSV", "es": "Descargar CSV"},
    "statistics.download_json": {"en": "Download JSON", "es": "Descargar JSON"},
    "statistics.download_parquet": {"en": "Download Parquet", "es": "Descargar Parquet"},
    "statistics.download_dta": {"en": "Download Stata (.dta)", "es": "Descargar Stata (.dta)"},
    "statistics.download_geojson": {"en": "Download GeoJSON", "es": "Descargar GeoJSON"},
}
