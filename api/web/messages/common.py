"""Words every console page shares: the frame, signing in and out, errors (``common.*``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

MESSAGES: Final[Mapping[str, Mapping[str, str]]] = {
    "common.service_name": {"en": "Plainsight", "es": "Plainsight"},
    "common.skip_to_content": {"en": "Skip to content", "es": "Ir al contenido"},
    "common.main_navigation": {"en": "Main navigation", "es": "Navegación principal"},
    "common.language": {"en": "Language", "es": "Idioma"},
    "common.language_en": {"en": "English", "es": "English"},
    "common.language_es": {"en": "Español", "es": "Español"},
    "common.nav_moderation": {"en": "Review queue", "es": "Cola de revisión"},
    "common.nav_statistics": {"en": "Statistics", "es": "Estadísticas"},
    "common.nav_accounts": {"en": "Accounts", "es": "Cuentas"},
    "common.nav_audit": {"en": "Audit log", "es": "Registro de auditoría"},
    "common.nav_public": {"en": "Public releases", "es": "Publicaciones"},
    "common.signed_in_as": {"en": "Signed in as {role}", "es": "Sesión iniciada como {role}"},
    "common.sign_out": {"en": "Sign out", "es": "Cerrar sesión"},
    "common.sign_in": {"en": "Sign in", "es": "Iniciar sesión"},
    "common.sign_in_title": {"en": "Sign in to Plainsight", "es": "Iniciar sesión en Plainsight"},
    "common.sign_in_intro": {
        "en": "For moderators, researchers and administrators. Observers use the app.",
        "es": "Para moderadores, investigadores y administradores. Los observadores usan la app.",
    },
    "common.email": {"en": "E-mail address", "es": "Correo electrónico"},
    "common.password": {"en": "Password", "es": "Contraseña"},
    "common.totp": {
        "en": "Authentication code (if your account has one)",
        "es": "Código de autenticación (si su cuenta tiene uno)",
    },
    "common.sign_in_failed": {
        "en": "The e-mail address or the password is wrong.",
        "es": "El correo electrónico o la contraseña no son correctos.",
    },
    "common.totp_needed": {
        "en": "Enter the current code from your authenticator app.",
        "es": "Ingrese el código actual de su app de autenticación.",
    },
    "common.field_required": {"en": "{field} is required.", "es": "{field} es obligatorio."},
    "common.public_link": {
        "en": "Public statistics need no account: read the public releases.",
        "es": "Las estadísticas públicas no requieren cuenta: lea las publicaciones.",
    },
    "common.role_observer": {"en": "observer", "es": "observador"},
    "common.role_officer": {"en": "officer", "es": "oficial"},
    "common.role_researcher": {"en": "researcher", "es": "investigador"},
    "common.role_moderator": {"en": "moderator", "es": "moderador"},
    "common.role_admin": {"en": "administrator", "es": "administrador"},
    "common.nothing_for_role": {
        "en": "The console has no pages for the {role} role. Use the app or the API.",
        "es": "La consola no tiene páginas para el rol {role}. Use la app o la API.",
    },
    "common.error_title": {"en": "Something went wrong", "es": "Algo salió mal"},
    "common.error_400": {"en": "The request was not valid.", "es": "La solicitud no es válida."},
    "common.error_403": {
        "en": "Your role may not open this page.",
        "es": "Su rol no puede abrir esta página.",
    },
    "common.error_403_csrf": {
        "en": "The form had expired. Go back, reload the page and send it again.",
        "es": "El formulario venció. Vuelva atrás, recargue la página y envíelo de nuevo.",
    },
    "common.error_404": {"en": "There is nothing here.", "es": "Aquí no hay nada."},
    "common.error_409": {
        "en": "That conflicts with the current state. Reload the page and try again.",
        "es": "Eso choca con el estado actual. Recargue la página e inténtelo de nuevo.",
    },
    "common.error_410": {"en": "This is gone (withdrawn).", "es": "Esto ya no está (retirado)."},
    "common.error_429": {
        "en": "Too many attempts. Wait a moment and try again.",
        "es": "Demasiados intentos. Espere un momento e inténtelo de nuevo.",
    },
    "common.error_500": {
        "en": "The service failed. Nothing was changed; try again later.",
        "es": "El servicio falló. No se cambió nada; inténtelo más tarde.",
    },
    "common.error_503": {
        "en": "The service is busy. Try again in a few seconds.",
        "es": "El servicio está ocupado. Inténtelo de nuevo en unos segundos.",
    },
    "common.back_home": {"en": "Back to the start", "es": "Volver al inicio"},
    "common.field_error": {"en": "{field}: {detail}", "es": "{field}: {detail}"},
    "common.next_page": {"en": "Next page", "es": "Página siguiente"},
    "common.first_page": {"en": "First page", "es": "Primera página"},
    "common.apply": {"en": "Apply", "es": "Aplicar"},
    "common.none": {"en": "none", "es": "ninguno"},
    "common.yes": {"en": "yes", "es": "sí"},
    "common.no": {"en": "no", "es": "no"},
}
