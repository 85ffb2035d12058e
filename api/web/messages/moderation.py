"""Words of the console's moderation pages (keys ``moderation.*``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

MESSAGES: Final[Mapping[str, Mapping[str, str]]] = {
    # The queue
    "moderation.queue_title": {"en": "Review queue", "es": "Cola de revisión"},
    "moderation.queue_intro": {
        "en": "Pending reports, oldest first. Each can be verified, marked unverified or "
        "rejected with a reason in one step.",
        "es": "Informes pendientes, los más antiguos primero. Cada uno puede verificarse, "
        "marcarse como no verificado o rechazarse con un motivo en un solo paso.",
    },
    "moderation.queue_empty": {
        "en": "Nothing is waiting for review.",
        "es": "No hay nada pendiente de revisión.",
    },
    "moderation.queue_pages": {"en": "Queue pages", "es": "Páginas de la cola"},
    "moderation.item_heading": {
        "en": "{kind} received {received}",
        "es": "{kind}, recepción: {received}",
    },
    "moderation.from_account": {
        "en": "an account (no device)",
        "es": "una cuenta (sin dispositivo)",
    },
    "moderation.photos": {"en": "Photos", "es": "Fotos"},
    "moderation.photo_alt": {
        "en": "Photo {number} of this report",
        "es": "Foto {number} de este informe",
    },
    "moderation.video_label": {
        "en": "Video {number} of this report",
        "es": "Vídeo {number} de este informe",
    },
    "moderation.video_duration": {
        "en": "Video, {duration} long",
        "es": "Vídeo de {duration} de duración",
    },
    "moderation.near_duplicate_video": {
        "en": "Similar video ({duration}), from report {report}",
        "es": "Vídeo similar ({duration}), del informe {report}",
    },
    "moderation.near_duplicates": {
        "en": "Near-duplicate photos of other reports",
        "es": "Fotos casi idénticas de otros informes",
    },
    "moderation.near_duplicate_alt": {
        "en": "Similar photo, from report {report}",
        "es": "Foto similar, del informe {report}",
    },
    "moderation.distance": {
        "en": "differs by {phash} and {dhash} bits",
        "es": "difiere en {phash} y {dhash} bits",
    },
    "moderation.incident_mates": {
        "en": "Other reports of incident {incident}",
        "es": "Otros informes del incidente {incident}",
    },
    "moderation.alone_in_incident": {
        "en": "No other report belongs to this incident.",
        "es": "Ningún otro informe pertenece a este incidente.",
    },
    "moderation.no_incident": {
        "en": "Not part of an incident.",
        "es": "No forma parte de un incidente.",
    },
    "moderation.mate": {"en": "{kind} {id}", "es": "{kind} {id}"},
    # Provenance flags of a photo
    "moderation.flag_ai_marker": {
        "en": "Declares itself AI-generated",
        "es": "Se declara generada por IA",
    },
    "moderation.flag_no_ai_marker": {"en": "No AI marker", "es": "Sin marca de IA"},
    "moderation.flag_c2pa_absent": {"en": "No C2PA manifest", "es": "Sin manifiesto C2PA"},
    "moderation.flag_c2pa_present": {
        "en": "C2PA manifest (not validated)",
        "es": "Manifiesto C2PA (no validado)",
    },
    "moderation.flag_c2pa_valid": {"en": "C2PA manifest valid", "es": "Manifiesto C2PA válido"},
    "moderation.flag_c2pa_invalid": {
        "en": "C2PA manifest invalid",
        "es": "Manifiesto C2PA no válido",
    },
    "moderation.flag_had_gps": {"en": "Had GPS position", "es": "Tenía posición GPS"},
    "moderation.flag_no_gps": {"en": "No GPS position", "es": "Sin posición GPS"},
    "moderation.flag_had_metadata": {"en": "Had metadata", "es": "Tenía metadatos"},
    "moderation.flag_no_metadata": {"en": "No metadata", "es": "Sin metadatos"},
    "moderation.flag_time_consistent": {
        "en": "Capture time consistent",
        "es": "Hora de captura coherente",
    },
    "moderation.flag_time_inconsistent": {
        "en": "Capture time inconsistent",
        "es": "Hora de captura incoherente",
    },
    "moderation.flag_time_unknown": {
        "en": "No capture time",
        "es": "Sin hora de captura",
    },
    "moderation.flag_place_consistent": {
        "en": "Capture place consistent",
        "es": "Lugar de captura coherente",
    },
    "moderation.flag_place_inconsistent": {
        "en": "Capture place inconsistent",
        "es": "Lugar de captura incoherente",
    },
    "moderation.flag_place_unknown": {
        "en": "No capture place",
        "es": "Sin lugar de captura",
    },
    # Reviewing
    "moderation.verify": {"en": "Verify", "es": "Verificar"},
    "moderation.unverify": {"en": "Mark unverified", "es": "Marcar no verificado"},
    "moderation.reject": {"en": "Reject", "es": "Rechazar"},
    "moderation.reject_reason": {"en": "Reason for rejecting", "es": "Motivo del rechazo"},
    "moderation.choose_reason": {"en": "Choose a reason", "es": "Elija un motivo"},
    "moderation.done_verified": {
        "en": "The report was verified.",
        "es": "El informe fue verificado.",
    },
    "moderation.done_unverified": {
        "en": "The report was marked unverified.",
        "es": "El informe fue marcado como no verificado.",
    },
    "moderation.done_rejected": {
        "en": "The report was rejected.",
        "es": "El informe fue rechazado.",
    },
    "moderation.done_device_revoked": {
        "en": "The device was revoked.",
        "es": "El dispositivo fue revocado.",
    },
    "moderation.done_device_revoked_rejected": {
        "en": "The device was revoked; {count} pending reports of it were rejected.",
        "es": "El dispositivo fue revocado; se rechazaron {count} informes pendientes suyos.",
    },
    "moderation.done_merged": {
        "en": "The other incident was merged into this one.",
        "es": "El otro incidente se fusionó con este.",
    },
    "moderation.done_split": {
        "en": "The chosen reports now form incident {incident}.",
        "es": "Los informes elegidos forman ahora el incidente {incident}.",
    },
    "moderation.error_field": {
        "en": "This field is not valid.",
        "es": "Este campo no es válido.",
    },
    "moderation.error_status": {
        "en": "Choose verified, unverified or rejected.",
        "es": "Elija verificado, no verificado o rechazado.",
    },
    "moderation.error_reason": {
        "en": "A rejection needs a reason from the list.",
        "es": "Un rechazo necesita un motivo de la lista.",
    },
    "moderation.error_incident_id": {
        "en": "Give the number of another existing incident.",
        "es": "Indique el número de otro incidente existente.",
    },
    "moderation.error_report_ids": {
        "en": "Choose at least one of this incident's reports, and leave at least one.",
        "es": "Elija al menos uno de los informes de este incidente y deje al menos uno.",
    },
    "moderation.error_reject_pending": {
        "en": "The checkbox was sent with a value it cannot have.",
        "es": "La casilla se envió con un valor que no puede tener.",
    },
    # A report
    "moderation.back_to_queue": {"en": "Back to the review queue", "es": "Volver a la cola"},
    "moderation.report_title": {"en": "{kind} {id}", "es": "{kind} {id}"},
    "moderation.review": {"en": "Review", "es": "Revisión"},
    "moderation.fields": {"en": "What was reported", "es": "Lo que se informó"},
    "moderation.not_reported": {"en": "not reported", "es": "no informado"},
    "moderation.no_photos": {"en": "No photos.", "es": "Sin fotos."},
    "moderation.history": {"en": "Review history", "es": "Historial de revisión"},
    "moderation.history_when": {"en": "When", "es": "Cuándo"},
    "moderation.history_who": {"en": "Who", "es": "Quién"},
    "moderation.history_reason": {"en": "Reason", "es": "Motivo"},
    "moderation.by_the_service": {"en": "the service", "es": "el servicio"},
    "moderation.not_reviewed": {
        "en": "Nobody has reviewed this report yet.",
        "es": "Nadie ha revisado este informe todavía.",
    },
    "moderation.incident": {"en": "Incident", "es": "Incidente"},
    "moderation.open_incident": {"en": "Incident {incident}", "es": "Incidente {incident}"},
    # The device a report came from
    "moderation.device": {"en": "Device", "es": "Dispositivo"},
    "moderation.device_revoked_at": {
        "en": "This device was revoked on {when}: its token no longer works.",
        "es": "Este dispositivo fue revocado el {when}: su token ya no funciona.",
    },
    "moderation.revoke_explained": {
        "en": "Revoking stops this device's token at once; the device cannot send reports "
        "or photos any more.",
        "es": "Revocar detiene el token de este dispositivo de inmediato; el dispositivo ya "
        "no puede enviar informes ni fotos.",
    },
    "moderation.reject_pending": {
        "en": "Also reject its pending reports (reason: device revoked)",
        "es": "Rechazar también sus informes pendientes (motivo: dispositivo revocado)",
    },
    "moderation.revoke_device": {"en": "Revoke this device", "es": "Revocar este dispositivo"},
    "moderation.revoke_confirm": {
        "en": "Revoke this device? This cannot be undone.",
        "es": "¿Revocar este dispositivo? No se puede deshacer.",
    },
    "moderation.from_account_explained": {
        "en": "This report was sent from an account, not from an observer's device: there "
        "is no device to revoke.",
        "es": "Este informe se envió desde una cuenta, no desde el dispositivo de un "
        "observador: no hay dispositivo que revocar.",
    },
    # An incident
    "moderation.incident_title": {"en": "Incident {incident}", "es": "Incidente {incident}"},
    "moderation.reports_count": {"en": "Reports", "es": "Informes"},
    "moderation.earliest_at": {"en": "Earliest report", "es": "Primer informe"},
    "moderation.agency": {"en": "Agency", "es": "Agencia"},
    "moderation.classification": {"en": "Classification", "es": "Clasificación"},
    "moderation.verified_classification": {
        "en": "Classification of its verified reports",
        "es": "Clasificación de sus informes verificados",
    },
    "moderation.none_verified": {
        "en": "no verified report yet",
        "es": "ningún informe verificado todavía",
    },
    "moderation.classification_not_identified": {
        "en": "Not identified",
        "es": "No se identificaron",
    },
    "moderation.classification_identified": {"en": "Identified", "es": "Se identificaron"},
    "moderation.classification_unclear": {"en": "Unclear", "es": "No está claro"},
    "moderation.column_observer": {
        "en": "Observers' reports ({count})",
        "es": "Informes de observadores ({count})",
    },
    "moderation.column_officer": {
        "en": "Officers' notes ({count})",
        "es": "Notas de oficiales ({count})",
    },
    "moderation.column_empty": {"en": "None.", "es": "Ninguno."},
    "moderation.merge_title": {
        "en": "Merge another incident into this one",
        "es": "Fusionar otro incidente con este",
    },
    "moderation.merge_other": {
        "en": "Number of the other incident",
        "es": "Número del otro incidente",
    },
    "moderation.merge": {"en": "Merge", "es": "Fusionar"},
    "moderation.merge_confirm": {
        "en": "Merge the other incident into this one?",
        "es": "¿Fusionar el otro incidente con este?",
    },
    "moderation.split_title": {
        "en": "Split reports off into a new incident",
        "es": "Separar informes en un incidente nuevo",
    },
    "moderation.split_choose": {
        "en": "Reports to move to a new incident",
        "es": "Informes que pasan a un incidente nuevo",
    },
    "moderation.split": {"en": "Split", "es": "Separar"},
    "moderation.split_confirm": {
        "en": "Move the chosen reports to a new incident?",
        "es": "¿Pasar los informes elegidos a un incidente nuevo?",
    },
}
