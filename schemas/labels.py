"""Human labels for every field path and enum value, in English and Spanish.

The codebook (``schemas.codebook``) joins these to the schema; a unit test fails when a field or
value has no label in every language, so adding one to the schema means adding it here too.
Spanish is neutral Latin American Spanish, addressed to people in the United States.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final, NamedTuple

from schemas.codes import (
    Agency,
    AskedResponse,
    Attire,
    LocalPoliceRole,
    Masked,
    MisidentificationType,
    ReportKind,
    ReportStatus,
    ReviewReason,
    Tristate,
    Vehicles,
    YesNoUnknown,
)

LANGUAGES: Final = ("en", "es")


class Text(NamedTuple):
    label: str
    description: str


class Translations(NamedTuple):
    en: Text
    es: Text

    def get(self, lang: str) -> Text:
        if lang not in LANGUAGES:
            raise ValueError(f"unsupported language {lang!r}; use one of {', '.join(LANGUAGES)}")
        text: Text = getattr(self, lang)
        return text


def _t(en: tuple[str, str], es: tuple[str, str]) -> Translations:
    return Translations(en=Text(*en), es=Text(*es))


# Keyed by dotted field path, as the codebook lists them.
FIELD_LABELS: Final[Mapping[str, Translations]] = {
    "kind": _t(
        ("Report type", "Whether this is an observer's report or an officer's note."),
        (
            "Tipo de reporte",
            "Si es el reporte de un observador o la nota de un oficial de policía.",
        ),
    ),
    "client_id": _t(
        (
            "Report ID from the app",
            "A random identifier the app creates for each report, so a resent report is never "
            "counted twice.",
        ),
        (
            "ID del reporte en la app",
            "Un identificador aleatorio que la app crea para cada reporte, para que un reporte "
            "reenviado nunca se cuente dos veces.",
        ),
    ),
    "occurred_at": _t(
        ("When it happened", "Date and time of the encounter, with the time zone."),
        ("Cuándo ocurrió", "Fecha y hora del encuentro, con la zona horaria."),
    ),
    "occurred_at_uncertainty_min": _t(
        (
            "Time uncertainty (minutes)",
            "How many minutes the time could be off, if you are not sure of it.",
        ),
        (
            "Margen de error de la hora (minutos)",
            "Cuántos minutos podría estar equivocada la hora, si no está seguro.",
        ),
    ),
    "location": _t(
        (
            "Place",
            "Where it happened. The exact position is reduced to an area of about 0.1 km² "
            "before it is stored.",
        ),
        (
            "Lugar",
            "Dónde ocurrió. La posición exacta se reduce a una zona de unos 0,1 km² antes de "
            "guardarla.",
        ),
    ),
    "location.lat": _t(
        ("Latitude", "Latitude in degrees. Never stored."),
        ("Latitud", "Latitud en grados. Nunca se guarda."),
    ),
    "location.lon": _t(
        ("Longitude", "Longitude in degrees. Never stored."),
        ("Longitud", "Longitud en grados. Nunca se guarda."),
    ),
    "location.accuracy_m": _t(
        ("Location accuracy (metres)", "How precise the position is, in metres."),
        ("Precisión de la ubicación (metros)", "Qué tan precisa es la posición, en metros."),
    ),
    "location.description": _t(
        (
            "Place description",
            "A short description of the place, such as 'outside the courthouse'. "
            "Do not include names.",
        ),
        (
            "Descripción del lugar",
            "Una descripción breve del lugar, por ejemplo 'frente al juzgado'. No incluya nombres.",
        ),
    ),
    "location.h3_cell": _t(
        (
            "Area (H3 cell)",
            "The H3 cell (resolution 9, about 0.1 km²) that replaced the exact position.",
        ),
        (
            "Zona (celda H3)",
            "La celda H3 (resolución 9, unos 0,1 km²) que reemplazó la posición exacta.",
        ),
    ),
    "agents": _t(
        ("Agents", "The agents you saw."),
        ("Agentes", "Los agentes que usted vio."),
    ),
    "agents.count": _t(
        ("Number of agents", "How many agents you saw, if you could count them."),
        ("Número de agentes", "Cuántos agentes vio, si pudo contarlos."),
    ),
    "agents.masked": _t(
        ("Masked", "Were the agents' faces covered?"),
        ("Enmascarados", "¿Los agentes tenían la cara cubierta?"),
    ),
    "agents.attire": _t(
        ("Clothing", "What the agents were wearing."),
        ("Vestimenta", "Qué ropa llevaban los agentes."),
    ),
    "agents.agencies_claimed": _t(
        ("Agencies claimed", "Agencies the agents said they were from, or that their gear named."),
        (
            "Agencias declaradas",
            "Agencias a las que los agentes dijeron pertenecer, o que figuraban en su equipo.",
        ),
    ),
    "agents.agencies_suspected": _t(
        ("Agencies suspected", "Agencies you think the agents were from."),
        ("Agencias sospechadas", "Agencias a las que usted cree que pertenecían los agentes."),
    ),
    "agents.vehicles": _t(
        ("Vehicles", "Were the agents' vehicles marked?"),
        ("Vehículos", "¿Los vehículos de los agentes estaban identificados?"),
    ),
    "identification": _t(
        ("Identification", "Whether and how the agents identified themselves."),
        ("Identificación", "Si los agentes se identificaron y de qué manera."),
    ),
    "identification.verbal": _t(
        ("Identified verbally", "Did the agents identify themselves verbally?"),
        ("Se identificaron verbalmente", "¿Los agentes se identificaron verbalmente?"),
    ),
    "identification.badge_shown": _t(
        ("Badge shown", "Did the agents show a badge or credentials?"),
        ("Mostraron placa", "¿Los agentes mostraron una placa o credenciales?"),
    ),
    "identification.insignia_visible": _t(
        (
            "Insignia visible",
            "Was an agency name, patch or insignia visible on the agents' clothing?",
        ),
        (
            "Insignias visibles",
            "¿Se veía el nombre de una agencia, un parche o una insignia en la ropa de los "
            "agentes?",
        ),
    ),
    "identification.names_or_badge_numbers_given": _t(
        (
            "Names or badge numbers given",
            "Did the agents give their names or badge numbers? Answer yes or no only; "
            "do not write them down here.",
        ),
        (
            "Dieron nombres o números de placa",
            "¿Los agentes dieron sus nombres o números de placa? Responda solo sí o no; "
            "no los escriba aquí.",
        ),
    ),
    "identification.asked": _t(
        ("Asked to identify", "Did anyone ask the agents who they were?"),
        ("Se les pidió identificarse", "¿Alguien les preguntó a los agentes quiénes eran?"),
    ),
    "identification.response_when_asked": _t(
        ("Response when asked", "What the agents did when asked who they were."),
        (
            "Respuesta al preguntarles",
            "Qué hicieron los agentes cuando se les preguntó quiénes eran.",
        ),
    ),
    "identification.identified_only_after_local_police_arrived": _t(
        (
            "Identified only after local police arrived",
            "Did the agents identify themselves only once local police arrived?",
        ),
        (
            "Se identificaron solo al llegar la policía local",
            "¿Los agentes se identificaron solo cuando llegó la policía local?",
        ),
    ),
    "misidentification": _t(
        (
            "Mistaken identity",
            "Who was taken for whom: for example, agents mistaken for kidnappers.",
        ),
        (
            "Confusión de identidad",
            "Quién fue confundido con quién: por ejemplo, agentes confundidos con secuestradores.",
        ),
    ),
    "outcome": _t(
        ("Outcome", "What happened during and after the encounter."),
        ("Resultado", "Qué pasó durante y después del encuentro."),
    ),
    "outcome.people_detained": _t(
        ("People detained", "How many people were detained or taken away."),
        ("Personas detenidas", "Cuántas personas fueron detenidas o llevadas."),
    ),
    "outcome.force_used": _t(
        ("Force used", "Was physical force used?"),
        ("Uso de fuerza", "¿Se usó fuerza física?"),
    ),
    "outcome.injuries": _t(
        ("People injured", "How many people were injured, of any side."),
        ("Personas heridas", "Cuántas personas resultaron heridas, de cualquier lado."),
    ),
    "outcome.local_police_present": _t(
        ("Local police present", "Were local police at the scene?"),
        ("Policía local presente", "¿Había policía local en el lugar?"),
    ),
    "outcome.local_police_role": _t(
        ("Local police role", "What local police did at the scene."),
        ("Papel de la policía local", "Qué hizo la policía local en el lugar."),
    ),
    "outcome.called_911": _t(
        ("911 called", "Did anyone call 911 about the encounter?"),
        ("Se llamó al 911", "¿Alguien llamó al 911 por el encuentro?"),
    ),
    "narrative": _t(
        (
            "What happened",
            "Your own account, in your words. Do not include names or other identifying details.",
        ),
        (
            "Qué pasó",
            "Su relato, en sus propias palabras. No incluya nombres ni otros datos que "
            "identifiquen a personas.",
        ),
    ),
    "officer": _t(
        ("Officer details", "Context from the officer filing this note."),
        ("Datos del oficial", "Contexto del oficial de policía que presenta esta nota."),
    ),
    "officer.command": _t(
        ("Unit or precinct", "The officer's unit, command or precinct."),
        ("Unidad o distrito", "La unidad, el mando o el distrito policial del oficial."),
    ),
    "officer.agents_identified_to_officers": _t(
        (
            "Agents identified to officers",
            "Did the agents identify themselves to the responding officers?",
        ),
        (
            "Los agentes se identificaron ante la policía",
            "¿Los agentes se identificaron ante los policías que acudieron?",
        ),
    ),
    "officer.prior_notification": _t(
        (
            "Prior notification",
            "Had the federal agency told local police about the operation beforehand?",
        ),
        (
            "Aviso previo",
            "¿La agencia federal había avisado a la policía local del operativo con anticipación?",
        ),
    ),
    "officer.officers_injured": _t(
        ("Officers injured", "How many local officers were injured."),
        ("Policías heridos", "Cuántos policías locales resultaron heridos."),
    ),
    "officer.incident_reference": _t(
        ("Incident reference", "The department's incident or case number, if any."),
        (
            "Referencia del incidente",
            "El número de incidente o de caso del departamento, si lo hay.",
        ),
    ),
    "id": _t(
        ("Report ID", "The identifier the service gave the report."),
        ("ID del reporte", "El identificador que el servicio asignó al reporte."),
    ),
    "status": _t(
        ("Review status", "Where the report stands in moderation."),
        ("Estado de revisión", "En qué punto de la moderación está el reporte."),
    ),
    "received_at": _t(
        ("Received at", "When the service received the report."),
        ("Recibido el", "Cuándo recibió el servicio el reporte."),
    ),
    "device_id": _t(
        (
            "Device ID",
            "The observer device that submitted the report; empty for a report filed from "
            "an account.",
        ),
        (
            "ID del dispositivo",
            "El dispositivo de observador que envió el reporte; vacío si el reporte se "
            "presentó desde una cuenta.",
        ),
    ),
}

_TRISTATE: Final[Mapping[str, Translations]] = {
    Tristate.YES: _t(("Yes", "Yes."), ("Sí", "Sí.")),
    Tristate.NO: _t(("No", "No."), ("No", "No.")),
    Tristate.UNCLEAR: _t(
        ("Unclear", "You could not tell, or did not see."),
        ("No está claro", "No pudo saberlo o no lo vio."),
    ),
}

# Keyed by enum class, then value: StrEnum members of different enums with the same value
# ("yes") compare and hash equal, so they cannot share one flat dict.
VALUE_LABELS: Final[Mapping[type[StrEnum], Mapping[str, Translations]]] = {
    ReportKind: {
        ReportKind.OBSERVER_REPORT: _t(
            ("Observer report", "A report from a community observer."),
            ("Reporte de observador", "Un reporte de un observador de la comunidad."),
        ),
        ReportKind.OFFICER_NOTE: _t(
            ("Officer note", "An encounter note from a police officer."),
            ("Nota policial", "Una nota de un oficial de policía sobre el encuentro."),
        ),
    },
    Tristate: _TRISTATE,
    YesNoUnknown: {
        YesNoUnknown.YES: _t(("Yes", "Yes."), ("Sí", "Sí.")),
        YesNoUnknown.NO: _t(("No", "No."), ("No", "No.")),
        YesNoUnknown.UNKNOWN: _t(
            ("Unknown", "You do not know."),
            ("Se desconoce", "No lo sabe."),
        ),
    },
    Masked: {
        Masked.ALL: _t(
            ("All masked", "Every agent had their face covered."),
            ("Todos enmascarados", "Todos los agentes tenían la cara cubierta."),
        ),
        Masked.SOME: _t(
            ("Some masked", "Some agents had their face covered, others did not."),
            ("Algunos enmascarados", "Algunos agentes tenían la cara cubierta y otros no."),
        ),
        Masked.NONE: _t(
            ("None masked", "No agent had their face covered."),
            ("Ninguno enmascarado", "Ningún agente tenía la cara cubierta."),
        ),
        Masked.UNKNOWN: _t(
            ("Unknown", "You could not see their faces well enough to tell."),
            ("Se desconoce", "No pudo ver sus caras lo suficiente para saberlo."),
        ),
    },
    Attire: {
        Attire.PLAINCLOTHES: _t(
            ("Plain clothes", "Ordinary civilian clothing."),
            ("Ropa de civil", "Ropa común, de civil."),
        ),
        Attire.UNIFORM: _t(
            ("Uniform", "A recognisable agency uniform."),
            ("Uniforme", "Un uniforme reconocible de una agencia."),
        ),
        Attire.MIXED: _t(
            ("Mixed", "Some in plain clothes, some in uniform or tactical gear."),
            ("Mixta", "Algunos de civil y otros con uniforme o equipo táctico."),
        ),
        Attire.TACTICAL: _t(
            ("Tactical gear", "Tactical vests, helmets or similar gear."),
            ("Equipo táctico", "Chalecos tácticos, cascos o equipo similar."),
        ),
        Attire.UNKNOWN: _t(
            ("Unknown", "You could not see what they wore."),
            ("Se desconoce", "No pudo ver qué ropa llevaban."),
        ),
    },
    Agency: {
        Agency.ICE: _t(
            ("ICE", "U.S. Immigration and Customs Enforcement."),
            ("ICE", "Servicio de Inmigración y Control de Aduanas de EE. UU."),
        ),
        Agency.CBP: _t(
            ("CBP", "U.S. Customs and Border Protection, including the Border Patrol."),
            (
                "CBP",
                "Oficina de Aduanas y Protección Fronteriza de EE. UU., incluida la Patrulla "
                "Fronteriza.",
            ),
        ),
        Agency.HSI: _t(
            ("HSI", "Homeland Security Investigations."),
            ("HSI", "Investigaciones de Seguridad Nacional."),
        ),
        Agency.FBI: _t(
            ("FBI", "Federal Bureau of Investigation."),
            ("FBI", "Buró Federal de Investigaciones."),
        ),
        Agency.DEA: _t(
            ("DEA", "Drug Enforcement Administration."),
            ("DEA", "Administración de Control de Drogas."),
        ),
        Agency.USMS: _t(
            ("U.S. Marshals", "United States Marshals Service."),
            ("Alguaciles federales (U.S. Marshals)", "Servicio de Alguaciles de Estados Unidos."),
        ),
        Agency.ATF: _t(
            ("ATF", "Bureau of Alcohol, Tobacco, Firearms and Explosives."),
            ("ATF", "Oficina de Alcohol, Tabaco, Armas de Fuego y Explosivos."),
        ),
        Agency.FPS: _t(
            ("FPS", "Federal Protective Service, which guards federal buildings and courts."),
            (
                "FPS",
                "Servicio de Protección Federal, que vigila edificios y tribunales federales.",
            ),
        ),
        Agency.STATE_POLICE: _t(
            ("State police", "State police or highway patrol."),
            ("Policía estatal", "Policía estatal o patrulla de carreteras."),
        ),
        Agency.NATIONAL_GUARD: _t(
            ("National Guard", "National Guard troops."),
            ("Guardia Nacional", "Tropas de la Guardia Nacional."),
        ),
        Agency.LOCAL_POLICE: _t(
            ("Local police", "City or county police, or the sheriff's office."),
            ("Policía local", "Policía municipal o del condado, u oficina del alguacil."),
        ),
        Agency.OTHER: _t(
            ("Other agency", "An agency not in this list."),
            ("Otra agencia", "Una agencia que no está en esta lista."),
        ),
        Agency.UNKNOWN: _t(
            ("Unknown", "You do not know which agency."),
            ("Se desconoce", "No sabe de qué agencia eran."),
        ),
    },
    Vehicles: {
        Vehicles.MARKED: _t(
            ("Marked", "Vehicles with agency markings or police lights."),
            ("Identificados", "Vehículos con logotipos de la agencia o luces policiales."),
        ),
        Vehicles.UNMARKED: _t(
            ("Unmarked", "Ordinary-looking vehicles without markings."),
            ("Sin identificar", "Vehículos de aspecto común, sin logotipos."),
        ),
        Vehicles.MIXED: _t(
            ("Mixed", "Some marked and some unmarked vehicles."),
            ("Mixtos", "Algunos vehículos identificados y otros sin identificar."),
        ),
        Vehicles.NONE: _t(
            ("No vehicles", "The agents had no vehicles that you saw."),
            ("Sin vehículos", "Los agentes no tenían vehículos, que usted viera."),
        ),
        Vehicles.UNKNOWN: _t(
            ("Unknown", "You did not see their vehicles."),
            ("Se desconoce", "No vio sus vehículos."),
        ),
    },
    AskedResponse: {
        AskedResponse.IDENTIFIED: _t(
            ("Identified", "They said clearly who they were and which agency."),
            ("Se identificaron", "Dijeron claramente quiénes eran y de qué agencia."),
        ),
        AskedResponse.GAVE_VAGUE_ANSWER: _t(
            ("Vague answer", "They answered without naming an agency, e.g. 'we are police'."),
            (
                "Respuesta vaga",
                "Respondieron sin nombrar una agencia, por ejemplo 'somos policía'.",
            ),
        ),
        AskedResponse.REFUSED: _t(
            ("Refused", "They refused to say who they were."),
            ("Se negaron", "Se negaron a decir quiénes eran."),
        ),
        AskedResponse.IGNORED: _t(
            ("Ignored the question", "They did not respond at all."),
            ("Ignoraron la pregunta", "No respondieron nada."),
        ),
        AskedResponse.UNCLEAR: _t(
            ("Unclear", "You could not hear or tell how they responded."),
            ("No está claro", "No pudo oír ni saber cómo respondieron."),
        ),
    },
    MisidentificationType: {
        MisidentificationType.AGENTS_TAKEN_FOR_CRIMINALS_OR_KIDNAPPERS: _t(
            (
                "Agents taken for criminals or kidnappers",
                "People thought the agents were criminals or kidnappers.",
            ),
            (
                "Agentes confundidos con delincuentes o secuestradores",
                "La gente creyó que los agentes eran delincuentes o secuestradores.",
            ),
        ),
        MisidentificationType.LOCAL_POLICE_TAKEN_FOR_FEDERAL_AGENTS: _t(
            (
                "Local police taken for federal agents",
                "Local police were mistaken for immigration or other federal agents.",
            ),
            (
                "Policía local confundida con agentes federales",
                "Se confundió a la policía local con agentes de inmigración u otros agentes "
                "federales.",
            ),
        ),
        MisidentificationType.FEDERAL_AGENTS_TAKEN_FOR_LOCAL_POLICE: _t(
            (
                "Federal agents taken for local police",
                "Federal agents were mistaken for local police.",
            ),
            (
                "Agentes federales confundidos con policía local",
                "Se confundió a agentes federales con la policía local.",
            ),
        ),
        MisidentificationType.SUSPECTED_IMPERSONATION: _t(
            (
                "Suspected impersonation",
                "Someone may have been posing as an agent or police officer.",
            ),
            (
                "Posible suplantación",
                "Alguien pudo haberse hecho pasar por agente federal o policía.",
            ),
        ),
        MisidentificationType.OTHER: _t(
            ("Other", "Another kind of mistaken identity."),
            ("Otra", "Otro tipo de confusión de identidad."),
        ),
    },
    LocalPoliceRole: {
        LocalPoliceRole.NONE: _t(
            ("No role", "Local police were there but took no part."),
            ("Ningún papel", "La policía local estaba allí, pero no participó."),
        ),
        LocalPoliceRole.OBSERVED: _t(
            ("Watched", "Local police watched without taking part."),
            ("Observó", "La policía local observó sin intervenir."),
        ),
        LocalPoliceRole.ASSISTED: _t(
            ("Assisted the agents", "Local police helped the agents."),
            ("Ayudó a los agentes", "La policía local ayudó a los agentes."),
        ),
        LocalPoliceRole.INTERVENED: _t(
            ("Intervened", "Local police stepped in to stop or question the agents."),
            ("Intervino", "La policía local intervino para detener o interrogar a los agentes."),
        ),
        LocalPoliceRole.UNKNOWN: _t(
            ("Unknown", "You could not tell what local police did."),
            ("Se desconoce", "No pudo saber qué hizo la policía local."),
        ),
    },
    ReportStatus: {
        ReportStatus.PENDING: _t(
            ("Pending review", "Received, not yet reviewed."),
            ("Pendiente de revisión", "Recibido, aún sin revisar."),
        ),
        ReportStatus.VERIFIED: _t(
            ("Verified", "A moderator confirmed it against other evidence."),
            ("Verificado", "Un moderador lo confirmó con otras pruebas."),
        ),
        ReportStatus.UNVERIFIED: _t(
            ("Unverified", "Reviewed, but could not be confirmed either way."),
            ("Sin verificar", "Revisado, pero no se pudo confirmar ni descartar."),
        ),
        ReportStatus.REJECTED: _t(
            ("Rejected", "Found to be false or off-topic."),
            ("Rechazado", "Se determinó que era falso o ajeno al tema."),
        ),
        ReportStatus.WITHDRAWN: _t(
            ("Withdrawn", "The reporter withdrew it; its content was deleted."),
            ("Retirado", "Quien lo envió lo retiró; su contenido fue eliminado."),
        ),
    },
    ReviewReason: {
        ReviewReason.DUPLICATE: _t(
            ("Duplicate", "The same report was sent more than once."),
            ("Duplicado", "El mismo reporte se envió más de una vez."),
        ),
        ReviewReason.IMPLAUSIBLE: _t(
            ("Implausible", "What it describes does not fit the other evidence."),
            ("Inverosímil", "Lo que describe no concuerda con las demás pruebas."),
        ),
        ReviewReason.SPAM_OR_TEST: _t(
            ("Spam or test", "Not a real report: advertising, nonsense or a test."),
            ("Spam o prueba", "No es un reporte real: publicidad, texto sin sentido o una prueba."),
        ),
        ReviewReason.CONTAINS_PERSONAL_DATA: _t(
            (
                "Contains personal data",
                "It names or describes a person so that they could be identified.",
            ),
            (
                "Contiene datos personales",
                "Nombra o describe a una persona de modo que se la podría identificar.",
            ),
        ),
        ReviewReason.OFF_TOPIC: _t(
            ("Off topic", "It is not about an encounter with agents."),
            ("Ajeno al tema", "No trata de un encuentro con agentes."),
        ),
        ReviewReason.REVOKED_DEVICE: _t(
            (
                "Device revoked",
                "The device that sent it was revoked by a moderator (for example for abuse).",
            ),
            (
                "Dispositivo revocado",
                "Un moderador revocó el dispositivo que lo envió (por ejemplo, por abuso).",
            ),
        ),
    },
}
