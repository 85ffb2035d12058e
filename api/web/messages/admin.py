"""Words of the console's admin pages (keys ``admin.*``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

MESSAGES: Final[Mapping[str, Mapping[str, str]]] = {
    # --- accounts ---
    "admin.accounts_title": {"en": "Staff accounts", "es": "Cuentas del personal"},
    "admin.create_heading": {"en": "Create an account", "es": "Crear una cuenta"},
    "admin.create_failed": {
        "en": "The account was not created. Correct the fields marked below.",
        "es": "No se creó la cuenta. Corrija los campos señalados abajo.",
    },
    "admin.role": {"en": "Role", "es": "Rol"},
    "admin.new_password": {"en": "Password", "es": "Contraseña"},
    "admin.password_hint": {
        "en": "At least 12 characters. Give it to the account's holder over a trusted channel.",
        "es": "Al menos 12 caracteres. Entréguela al titular de la cuenta por un canal seguro.",
    },
    "admin.confirm_password": {"en": "Password again", "es": "Repita la contraseña"},
    "admin.create_button": {"en": "Create account", "es": "Crear cuenta"},
    "admin.invalid_email": {
        "en": "Enter a valid e-mail address.",
        "es": "Ingrese un correo electrónico válido.",
    },
    "admin.invalid_role": {
        "en": "Choose officer, researcher, moderator or administrator.",
        "es": "Elija oficial, investigador, moderador o administrador.",
    },
    "admin.invalid_password": {
        "en": "The password must have at least 12 characters.",
        "es": "La contraseña debe tener al menos 12 caracteres.",
    },
    "admin.passwords_differ": {
        "en": "The two passwords are not the same.",
        "es": "Las dos contraseñas no coinciden.",
    },
    "admin.email_taken": {
        "en": "An account with this e-mail address already exists.",
        "es": "Ya existe una cuenta con este correo electrónico.",
    },
    "admin.list_heading": {"en": "Accounts", "es": "Cuentas"},
    "admin.created": {"en": "Created", "es": "Creada"},
    "admin.status": {"en": "Status", "es": "Estado"},
    "admin.status_active": {"en": "active", "es": "activa"},
    "admin.status_disabled": {"en": "disabled", "es": "desactivada"},
    "admin.second_factor": {"en": "Second factor", "es": "Segundo factor"},
    "admin.actions": {"en": "Actions", "es": "Acciones"},
    "admin.you": {"en": "you", "es": "usted"},
    "admin.no_accounts": {"en": "No accounts yet.", "es": "Aún no hay cuentas."},
    "admin.pages": {"en": "Pages", "es": "Páginas"},
    "admin.disable_button": {"en": "Disable", "es": "Desactivar"},
    "admin.disable_label": {"en": "Disable {email}", "es": "Desactivar {email}"},
    "admin.disable_confirm": {
        "en": "Disable {email}? Its sessions end at once.",
        "es": "¿Desactivar {email}? Sus sesiones terminan de inmediato.",
    },
    "admin.enable_button": {"en": "Re-enable", "es": "Reactivar"},
    "admin.enable_label": {"en": "Re-enable {email}", "es": "Reactivar {email}"},
    "admin.reset_button": {"en": "Reset password", "es": "Restablecer contraseña"},
    "admin.reset_label": {
        "en": "Reset the password of {email}",
        "es": "Restablecer la contraseña de {email}",
    },
    "admin.reset_confirm": {
        "en": "Issue a one-time reset code for {email}? An earlier unused code stops working.",
        "es": "¿Emitir un código de restablecimiento para {email}? Un código anterior sin "
        "usar deja de valer.",
    },
    "admin.notice_created": {"en": "The account was created.", "es": "Se creó la cuenta."},
    "admin.notice_disabled": {
        "en": "The account was disabled and its sessions ended.",
        "es": "Se desactivó la cuenta y se cerraron sus sesiones.",
    },
    "admin.notice_enabled": {
        "en": "The account was re-enabled. Its holder signs in again.",
        "es": "Se reactivó la cuenta. Su titular debe iniciar sesión de nuevo.",
    },
    # --- the reset code, shown once ---
    "admin.reset_title": {"en": "One-time reset code", "es": "Código de restablecimiento"},
    "admin.reset_for": {
        "en": "A one-time code to set a new password for {email}:",
        "es": "Un código de un solo uso para fijar una nueva contraseña de {email}:",
    },
    "admin.reset_shown_once": {
        "en": "This code is shown only now and is not stored anywhere readable. Copy it and "
        "give it to the account's holder over a trusted channel (in person or by phone).",
        "es": "Este código se muestra solo ahora y no se guarda en ningún lugar legible. "
        "Cópielo y entrégueselo al titular de la cuenta por un canal seguro (en persona o "
        "por teléfono).",
    },
    "admin.reset_valid_until": {
        "en": "It can be used once, until {until}.",
        "es": "Se puede usar una sola vez, hasta el {until}.",
    },
    "admin.reset_how_heading": {"en": "How to use it", "es": "Cómo usarlo"},
    "admin.reset_how": {
        "en": "The holder sends their e-mail address, this code and a new password of at least "
        "12 characters to the service (case, spaces and dashes in the code do not matter). "
        "Every session of the account ends.",
        "es": "El titular envía su correo electrónico, este código y una nueva contraseña de "
        "al menos 12 caracteres al servicio (mayúsculas, espacios y guiones del código no "
        "importan). Todas las sesiones de la cuenta terminan.",
    },
    "admin.reset_how_console": {
        "en": "The holder can do it on this page of the service:",
        "es": "El titular puede hacerlo en esta página del servicio:",
    },
    # --- redeeming a code (a public form) ---
    "admin.redeem_title": {"en": "Set a new password", "es": "Fijar una nueva contraseña"},
    "admin.redeem_intro": {
        "en": "An administrator gave you a one-time code. Enter it with your e-mail address "
        "and a new password. Every session of your account ends.",
        "es": "Un administrador le dio un código de un solo uso. Ingréselo con su correo "
        "electrónico y una nueva contraseña. Todas las sesiones de su cuenta terminan.",
    },
    "admin.redeem_code": {"en": "One-time code", "es": "Código de un solo uso"},
    "admin.redeem_new_password": {
        "en": "New password (at least 12 characters)",
        "es": "Nueva contraseña (al menos 12 caracteres)",
    },
    "admin.redeem_button": {"en": "Set the password", "es": "Fijar la contraseña"},
    "admin.redeem_failed": {
        "en": "The password was not changed. Correct the fields marked below.",
        "es": "No se cambió la contraseña. Corrija los campos señalados abajo.",
    },
    "admin.redeem_bad_code": {
        "en": "Enter the code as the administrator gave it.",
        "es": "Ingrese el código tal como se lo dio el administrador.",
    },
    "admin.redeem_refused": {
        "en": "This code is not valid for this e-mail address: wrong, expired or already used.",
        "es": "Este código no vale para este correo: es incorrecto, venció o ya se usó.",
    },
    "admin.redeem_done": {
        "en": "Your password was changed. Sign in with the new one.",
        "es": "Se cambió su contraseña. Inicie sesión con la nueva.",
    },
    "admin.back_to_accounts": {"en": "Back to the accounts", "es": "Volver a las cuentas"},
    # --- the audit log ---
    "admin.audit_title": {"en": "Audit log", "es": "Registro de auditoría"},
    "admin.audit_intro": {
        "en": "Every read of a report or photo by staff, every review and every change to an "
        "account, newest first. Entries cannot be changed; each carries the hash of the one "
        "before it. Viewing this page is itself recorded.",
        "es": "Cada lectura de un reporte o foto por el personal, cada revisión y cada cambio "
        "de una cuenta, lo más reciente primero. Las entradas no se pueden cambiar; cada una "
        "lleva el hash de la anterior. Ver esta página también queda registrado.",
    },
    "admin.filters_heading": {"en": "Filter", "es": "Filtrar"},
    "admin.filters_failed": {
        "en": "Some filters could not be read. Correct the fields marked below.",
        "es": "Algunos filtros no se pudieron leer. Corrija los campos señalados abajo.",
    },
    "admin.filter_action": {"en": "Action", "es": "Acción"},
    "admin.filter_action_hint": {"en": "e.g. account.created", "es": "p. ej. account.created"},
    "admin.filter_actor": {"en": "Actor id", "es": "Id del actor"},
    "admin.filter_actor_hint": {"en": "an account's id", "es": "el id de una cuenta"},
    "admin.filter_subject_type": {"en": "Subject type", "es": "Tipo de objeto"},
    "admin.filter_subject_type_hint": {
        "en": "report, photo, account…",
        "es": "report, photo, account…",
    },
    "admin.filter_subject_id": {"en": "Subject id", "es": "Id del objeto"},
    "admin.filter_subject_id_hint": {"en": "its id", "es": "su id"},
    "admin.filter_since": {"en": "From (UTC day)", "es": "Desde (día UTC)"},
    "admin.filter_until": {"en": "To (UTC day, included)", "es": "Hasta (día UTC, incluido)"},
    "admin.filter_too_long": {"en": "At most 200 characters.", "es": "Como máximo 200 caracteres."},
    "admin.filter_bad_date": {
        "en": "A date as YYYY-MM-DD.",
        "es": "Una fecha como AAAA-MM-DD.",
    },
    "admin.filter_bad_action": {
        "en": "An action code such as account.created.",
        "es": "Un código de acción como account.created.",
    },
    "admin.filter_bad_actor": {
        "en": "An account or device id (a UUID).",
        "es": "El id de una cuenta o dispositivo (un UUID).",
    },
    "admin.filter_until_before_since": {
        "en": "The end is before the start.",
        "es": "El final es anterior al inicio.",
    },
    "admin.clear_filters": {"en": "Clear the filters", "es": "Quitar los filtros"},
    "admin.entries_heading": {"en": "Entries", "es": "Entradas"},
    "admin.entry_id": {"en": "No.", "es": "N.º"},
    "admin.entry_time": {"en": "Time", "es": "Hora"},
    "admin.entry_actor": {"en": "Actor", "es": "Actor"},
    "admin.entry_action": {"en": "Action", "es": "Acción"},
    "admin.entry_subject": {"en": "Subject", "es": "Objeto"},
    "admin.entry_details": {"en": "Details", "es": "Detalles"},
    "admin.no_actor": {"en": "nobody signed in", "es": "nadie con sesión"},
    "admin.no_entries": {
        "en": "No entries match these filters.",
        "es": "Ninguna entrada coincide con estos filtros.",
    },
    "admin.older_entries": {"en": "Older entries", "es": "Entradas anteriores"},
    "admin.newest_entries": {"en": "Newest entries", "es": "Entradas más recientes"},
    # --- verifying the chain ---
    "admin.verify_button": {"en": "Verify the chain", "es": "Verificar la cadena"},
    "admin.verify_hint": {
        "en": "Recomputes every entry's hash, as plainsight audit verify does.",
        "es": "Recalcula el hash de cada entrada, como plainsight audit verify.",
    },
    "admin.verify_title": {"en": "Audit chain verification", "es": "Verificación de la cadena"},
    "admin.verify_ok": {
        "en": "The chain is intact: {checked} entries checked.",
        "es": "La cadena está intacta: {checked} entradas verificadas.",
    },
    "admin.verify_last": {
        "en": "Last entry: {last_id}, hash",
        "es": "Última entrada: {last_id}, hash",
    },
    "admin.verify_broken": {
        "en": "The chain is broken at entry {broken_id}. The {checked} entries before it are "
        "intact.",
        "es": "La cadena está rota en la entrada {broken_id}. Las {checked} entradas "
        "anteriores están intactas.",
    },
    "admin.verify_reason": {"en": "Why", "es": "Motivo"},
    "admin.verify_broken_next": {
        "en": "Someone with rights over the database changed the log. Keep a copy of the "
        "database as it is now and compare it with a backup.",
        "es": "Alguien con permisos sobre la base de datos cambió el registro. Guarde una "
        "copia de la base de datos tal como está y compárela con una copia de seguridad.",
    },
    "admin.verify_checkpoints": {
        "en": "Signed checkpoints in the data folder also checked: {count}.",
        "es": "Puntos de control firmados de la carpeta de datos también verificados: {count}.",
    },
    "admin.verify_checkpoint_failed": {
        "en": "The chain was not verified: a signed checkpoint in the data folder is not valid.",
        "es": "No se verificó la cadena: un punto de control firmado de la carpeta de datos no "
        "es válido.",
    },
    "admin.back_to_audit": {"en": "Back to the audit log", "es": "Volver al registro"},
}
