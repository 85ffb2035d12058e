"""Words of the console's public pages (keys ``public.*``). The methods are said here in both
languages with the release's own figures; the release file has them in English."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

MESSAGES: Final[Mapping[str, Mapping[str, str]]] = {
    "public.title": {
        "en": "Public statistics: do agents identify themselves?",
        "es": "Estadísticas públicas: ¿se identifican los agentes?",
    },
    "public.intro": {
        "en": "People who witness immigration enforcement report, through the Plainsight app, "
        "whether the agents said who they were, showed a badge or wore visible insignia. Each "
        "month, once the reports have settled, the service publishes how many incidents were "
        "reported and how often the agents were not identified.",
        "es": "Las personas que presencian operativos de inmigración reportan, con la app "
        "Plainsight, si los agentes dijeron quiénes eran, mostraron una placa o llevaban "
        "insignias visibles. Cada mes, una vez que los reportes se asentaron, el servicio "
        "publica cuántos incidentes se reportaron y con qué frecuencia los agentes no se "
        "identificaron.",
    },
    "public.empty": {
        "en": "Nothing has been published yet. The first month is published once it has ended "
        "and its publication delay has passed.",
        "es": "Aún no se ha publicado nada. El primer mes se publica cuando ha terminado y ha "
        "pasado su plazo de publicación.",
    },
    "public.latest_heading": {
        "en": "Latest release: {month}",
        "es": "Publicación más reciente: {month}",
    },
    "public.release_heading": {"en": "Release of {month}", "es": "Publicación de {month}"},
    "public.version_line": {
        "en": "Version {version}, published {published} UTC.",
        "es": "Versión {version}, publicada el {published} UTC.",
    },
    "public.corrects": {
        "en": "This version corrects version {version}: reports received later changed the "
        "month's counts.",
        "es": "Esta versión corrige la versión {version}: reportes recibidos más tarde "
        "cambiaron las cifras del mes.",
    },
    "public.full_release": {
        "en": "This release in full, with the methods",
        "es": "Esta publicación completa, con los métodos",
    },
    "public.signed_file": {
        "en": "The signed release file (JSON)",
        "es": "El archivo firmado de la publicación (JSON)",
    },
    "public.figures_heading": {"en": "Figures", "es": "Cifras"},
    "public.national_heading": {"en": "National", "es": "Nacional"},
    "public.agency_heading": {"en": "By agency", "es": "Por agencia"},
    "public.masked_heading": {"en": "By masking", "es": "Por uso de máscaras"},
    "public.area_heading": {"en": "By area", "es": "Por área"},
    "public.area_intro": {
        "en": "Areas are H3 cells of resolution {resolution} (about 36 km² each). Only areas "
        "whose noisy total reached {threshold} incidents are listed.",
        "es": "Las áreas son celdas H3 de resolución {resolution} (unos 36 km² cada una). "
        "Solo se listan las áreas cuyo total con ruido llegó a {threshold} incidentes.",
    },
    "public.no_areas": {
        "en": "No area reached the threshold this month.",
        "es": "Ningún área llegó al umbral este mes.",
    },
    "public.map_title": {
        "en": "Map of the areas listed in {month}",
        "es": "Mapa de las áreas listadas en {month}",
    },
    "public.map_description": {
        "en": "Each listed area is a hexagon coloured by its share not identified; the same "
        "figures are in the table below.",
        "es": "Cada área listada es un hexágono coloreado según su proporción de no "
        "identificados; las mismas cifras están en la tabla de abajo.",
    },
    "public.map_absent": {
        "en": "Areas not drawn: no incidents, or a noisy total below {threshold} (not listed).",
        "es": "Áreas sin dibujar: sin incidentes, o con un total con ruido menor que "
        "{threshold} (no listadas).",
    },
    "public.column_agency": {"en": "Agency", "es": "Agencia"},
    "public.column_masked": {"en": "Masking", "es": "Máscaras"},
    "public.column_area": {"en": "H3 cell", "es": "Celda H3"},
    "public.column_scope": {"en": "Scope", "es": "Alcance"},
    "public.whole_country": {"en": "Whole country", "es": "Todo el país"},
    "public.column_total": {"en": "Incidents", "es": "Incidentes"},
    "public.column_not_identified": {"en": "Not identified", "es": "No identificados"},
    "public.column_identified": {"en": "Identified", "es": "Identificados"},
    "public.column_unclear": {"en": "Unclear", "es": "Poco claros"},
    "public.column_rate": {
        "en": "Share not identified",
        "es": "Proporción no identificados",
    },
    "public.column_interval": {"en": "95% interval", "es": "Intervalo del 95 %"},
    "public.no_rate": {"en": "no estimate", "es": "sin estimación"},
    "public.caption": {
        "en": "Counts have random noise added on purpose (see the methods below).",
        "es": "Las cifras llevan ruido aleatorio a propósito (vea los métodos abajo).",
    },
    # --- the methods, in plain words ---
    "public.methods_heading": {
        "en": "How these figures are made",
        "es": "Cómo se hacen estas cifras",
    },
    "public.what_counted_heading": {"en": "What is counted", "es": "Qué se cuenta"},
    "public.what_counted": {
        "en": "Incidents, not reports: reports of the same event (close in place and time) are "
        "grouped and counted once. An incident belongs to the month, in the {time_zone} time "
        'zone, of its earliest report. An incident is "not identified" when most of its '
        "reports say the agents gave no verbal identification, showed no badge and wore no "
        'visible insignia; "identified" when most say they did at least one of these; '
        '"unclear" otherwise.',
        "es": "Incidentes, no reportes: los reportes del mismo hecho (cercanos en lugar y "
        "tiempo) se agrupan y se cuentan una vez. Un incidente pertenece al mes, en la zona "
        'horaria {time_zone}, de su primer reporte. Un incidente es "no identificado" '
        "cuando la mayoría de sus reportes dicen que los agentes no se identificaron de "
        'palabra, no mostraron placa ni llevaban insignias visibles; "identificado" cuando '
        'la mayoría dice que hicieron al menos una de esas cosas; "poco claro" en otro caso.',
    },
    "public.verified_heading": {"en": 'What "verified" means', "es": 'Qué significa "verificado"'},
    "public.status_verified": {
        "en": "Only verified reports count: a moderator has reviewed each of them (its "
        "photos, its details and the other reports of the same incident) and found it "
        "credible. Rejected and withdrawn reports never count.",
        "es": "Solo cuentan los reportes verificados: un moderador revisó cada uno (sus "
        "fotos, sus detalles y los demás reportes del mismo incidente) y lo consideró "
        "creíble. Los reportes rechazados o retirados nunca cuentan.",
    },
    "public.status_all": {
        "en": "Every report counts unless it was rejected or withdrawn, whether or not a "
        "moderator has verified it yet (verified means a moderator reviewed the report, its "
        "photos and the other reports of the incident, and found it credible).",
        "es": "Cuenta todo reporte que no fue rechazado ni retirado, lo haya verificado un "
        "moderador o no (verificado significa que un moderador revisó el reporte, sus fotos "
        "y los demás reportes del incidente, y lo consideró creíble).",
    },
    "public.delay_heading": {"en": "Publication delay", "es": "Plazo de publicación"},
    "public.delay": {
        "en": "A month is published once it has ended and {days} days have passed, so that "
        "late reports and reviews are in. Only reports the service received by {through} UTC "
        "are counted. A report received later goes into a numbered correction (version 2, "
        "3…); earlier versions stay as they were.",
        "es": "Un mes se publica cuando ha terminado y han pasado {days} días, para que "
        "lleguen los reportes y revisiones tardíos. Solo se cuentan los reportes que el "
        "servicio recibió hasta el {through} UTC. Un reporte recibido después entra en una "
        "corrección numerada (versión 2, 3…); las versiones anteriores no cambian.",
    },
    "public.noise_heading": {
        "en": "Why the counts are noisy on purpose",
        "es": "Por qué las cifras llevan ruido a propósito",
    },
    "public.noise": {
        "en": "Every count has a little random noise added (differential privacy, computed "
        "with the OpenDP library). That way no published figure can reveal whether any one "
        "incident, and so any one witness, is in the data. The noise is usually a few "
        "incidents either way: large counts are barely affected, counts of a few incidents "
        "are mostly noise. Counts below zero after the noise are shown as 0.",
        "es": "A cada cifra se le suma un poco de ruido aleatorio (privacidad diferencial, "
        "calculada con la biblioteca OpenDP). Así ninguna cifra publicada puede revelar si un "
        "incidente en particular, y por lo tanto un testigo, está en los datos. El ruido suele "
        "ser de unos pocos incidentes hacia arriba o hacia abajo: las cifras grandes casi no "
        "cambian, las de pocos incidentes son sobre todo ruido. Las cifras que quedan bajo "
        "cero se muestran como 0.",
    },
    "public.intervals_heading": {"en": "Shares and intervals", "es": "Proporciones e intervalos"},
    "public.intervals": {
        "en": "The share not identified is not identified ÷ (not identified + identified); "
        "unclear incidents are left out. The 95% interval accounts for both chance and the "
        "added noise; when the noise dominates it spans 0% to 100%.",
        "es": "La proporción de no identificados es no identificados ÷ (no identificados + "
        "identificados); los incidentes poco claros se dejan fuera. El intervalo del 95 % "
        "tiene en cuenta tanto el azar como el ruido agregado; cuando domina el ruido va de "
        "0 % a 100 %.",
    },
    "public.privacy_heading": {"en": "Privacy parameters", "es": "Parámetros de privacidad"},
    "public.privacy": {
        "en": "This version spends ε = {epsilon} and δ = {delta}. Smaller ε means more noise "
        "and more protection. δ is, at most, the chance that an area with a single incident "
        "is listed at all. All versions of this month together spend ε = {month_epsilon}.",
        "es": "Esta versión gasta ε = {epsilon} y δ = {delta}. Un ε menor significa más ruido "
        "y más protección. δ es, como máximo, la probabilidad de que un área con un solo "
        "incidente aparezca. Todas las versiones de este mes juntas gastan ε = "
        "{month_epsilon}.",
    },
    "public.threshold": {
        "en": "Threshold for listing an area: a noisy total of at least {threshold} incidents.",
        "es": "Umbral para listar un área: un total con ruido de al menos {threshold} incidentes.",
    },
    "public.column_measurement": {"en": "Measurement", "es": "Medición"},
    "public.column_epsilon": {"en": "ε", "es": "ε"},
    "public.column_noise": {
        "en": "Typical noise (standard deviation)",
        "es": "Ruido típico (desviación estándar)",
    },
    "public.measurement_national": {
        "en": "National counts: discrete Laplace noise on each count",
        "es": "Cifras nacionales: ruido de Laplace discreto en cada cifra",
    },
    "public.measurement_agency": {
        "en": "Counts by agency: discrete Laplace noise on each count",
        "es": "Cifras por agencia: ruido de Laplace discreto en cada cifra",
    },
    "public.measurement_masked": {
        "en": "Counts by masking: discrete Laplace noise on each count",
        "es": "Cifras por uso de máscaras: ruido de Laplace discreto en cada cifra",
    },
    "public.measurement_area_selection": {
        "en": "Which areas to list: Laplace noise on each area's total, kept at the threshold",
        "es": "Qué áreas listar: ruido de Laplace en el total de cada área, con umbral",
    },
    "public.measurement_area_counts": {
        "en": "Counts of the listed areas: discrete Laplace noise on each count",
        "es": "Cifras de las áreas listadas: ruido de Laplace discreto en cada cifra",
    },
    "public.signature_heading": {
        "en": "Checking a release",
        "es": "Cómo comprobar una publicación",
    },
    "public.signature": {
        "en": "Each release file is signed with the service's Ed25519 key (published at "
        "/v1/receipts/public-key): any altered figure makes the signature fail.",
        "es": "Cada archivo de publicación está firmado con la clave Ed25519 del servicio "
        "(publicada en /v1/receipts/public-key): cualquier cifra alterada hace fallar la firma.",
    },
    # --- the list of releases ---
    "public.all_heading": {"en": "All releases", "es": "Todas las publicaciones"},
    "public.column_month": {"en": "Month", "es": "Mes"},
    "public.column_version": {"en": "Version", "es": "Versión"},
    "public.column_published": {"en": "Published (UTC)", "es": "Publicada (UTC)"},
    "public.column_links": {"en": "Read", "es": "Leer"},
    "public.page_link": {"en": "Page", "es": "Página"},
    "public.file_link": {"en": "Signed file", "es": "Archivo firmado"},
    "public.page_link_label": {
        "en": "The page of {month}, version {version}",
        "es": "La página de {month}, versión {version}",
    },
    "public.file_link_label": {
        "en": "The signed file of {month}, version {version}",
        "es": "El archivo firmado de {month}, versión {version}",
    },
    "public.latest_marker": {"en": "latest", "es": "más reciente"},
    "public.versions_heading": {
        "en": "Versions of this month",
        "es": "Versiones de este mes",
    },
    "public.back": {"en": "All public releases", "es": "Todas las publicaciones"},
}
