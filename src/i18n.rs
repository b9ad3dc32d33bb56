//! Languages and the typed text catalog.
//!
//! Every string a person reads lives in [`Text`]; each language is one `const` value of it, so a
//! missing translation is a compile error rather than a blank on a relative's phone. The language
//! of a request comes from the `visitas-lang` cookie (set by the switch in the page header), then
//! `Accept-Language`, then the configured default.

use axum::http::{HeaderMap, header};

/// The languages Visitas speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Spanish.
    Es,
    /// English.
    En,
}

/// Name of the cookie that remembers the chosen language.
pub const LANG_COOKIE: &str = "visitas-lang";

impl Lang {
    /// Every supported language.
    pub const ALL: [Lang; 2] = [Lang::Es, Lang::En];

    /// The ISO 639-1 code used in `lang=""` attributes, cookies and forms.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
        }
    }

    /// Parses an ISO code, ignoring a region suffix (`es-ES`, `en_GB`).
    pub fn from_code(code: &str) -> Option<Lang> {
        let primary = code
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match primary.as_str() {
            "es" => Some(Lang::Es),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The text catalog of this language.
    pub fn text(self) -> &'static Text {
        match self {
            Lang::Es => &ES,
            Lang::En => &EN,
        }
    }

    /// The language a request asks for: cookie first, then `Accept-Language`, then `default`.
    pub fn negotiate(headers: &HeaderMap, default: Lang) -> Lang {
        if let Some(lang) = cookie_value(headers, LANG_COOKIE).and_then(|v| Lang::from_code(&v)) {
            return lang;
        }
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(from_accept_language)
            .unwrap_or(default)
    }
}

/// Picks the supported language with the highest quality from an `Accept-Language` value.
fn from_accept_language(value: &str) -> Option<Lang> {
    let mut best: Option<(f32, Lang)> = None;
    for part in value.split(',') {
        let mut pieces = part.split(';');
        let Some(lang) = pieces.next().and_then(Lang::from_code) else {
            continue;
        };
        let quality = pieces
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
            best = Some((quality, lang));
        }
    }
    best.map(|(_, lang)| lang)
}

/// Reads one cookie from the request headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Replaces `{n}` in a catalog string with a number.
pub fn with_number(text: &str, n: impl std::fmt::Display) -> String {
    text.replace("{n}", &n.to_string())
}

/// Every string shown to a person, in one language.
#[derive(Debug)]
pub struct Text {
    pub lang_code: &'static str,
    pub other_lang_code: &'static str,
    pub other_lang_name: &'static str,
    pub switch_language: &'static str,
    pub app_name: &'static str,
    pub tagline: &'static str,
    pub nav_rooms: &'static str,
    pub nav_patients: &'static str,
    pub nav_staff: &'static str,
    pub logout: &'static str,
    pub signed_in_as: &'static str,
    pub date_format: &'static str,

    pub login_title: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub password_confirm: &'static str,
    pub display_name: &'static str,
    pub login_button: &'static str,
    pub login_failed: &'static str,
    pub login_throttled: &'static str,

    pub setup_title: &'static str,
    pub setup_intro: &'static str,
    pub setup_button: &'static str,
    pub setup_invalid: &'static str,

    pub err_required: &'static str,
    pub err_too_long: &'static str,
    pub err_control_chars: &'static str,
    pub err_password_short: &'static str,
    pub err_password_long: &'static str,
    pub err_password_common: &'static str,
    pub err_password_mismatch: &'static str,
    pub err_password_username: &'static str,
    pub err_username_invalid: &'static str,
    pub err_username_taken: &'static str,
    pub err_record_taken: &'static str,
    pub err_patient_discharged: &'static str,
    pub form_has_errors: &'static str,

    pub staff_title: &'static str,
    pub staff_new: &'static str,
    pub staff_create_button: &'static str,
    pub role: &'static str,
    pub role_admin: &'static str,
    pub role_nurse: &'static str,
    pub status: &'static str,
    pub active: &'static str,
    pub inactive: &'static str,
    pub deactivate_button: &'static str,
    pub err_self_deactivate: &'static str,
    pub ca_title: &'static str,
    pub ca_help: &'static str,
    pub ca_download: &'static str,
    pub ca_not_generated: &'static str,

    pub patients_title: &'static str,
    pub patient_new: &'static str,
    pub patient_name: &'static str,
    pub ward: &'static str,
    pub bed: &'static str,
    pub record_number: &'static str,
    pub optional: &'static str,
    pub search: &'static str,
    pub search_placeholder: &'static str,
    pub register_button: &'static str,
    pub no_patients: &'static str,
    pub admitted: &'static str,
    pub discharged: &'static str,
    pub discharge_button: &'static str,
    pub discharge_help: &'static str,
    pub patient_rooms: &'static str,

    pub rooms_title: &'static str,
    pub room_create_button: &'static str,
    pub created_at: &'static str,
    pub room_open: &'static str,
    pub room_closed: &'static str,
    pub room_close_button: &'static str,
    pub open_room: &'static str,
    pub no_rooms: &'static str,
    pub present_now: &'static str,
    pub nobody: &'static str,
    pub patient: &'static str,
    pub room_title: &'static str,
    pub actions: &'static str,

    pub error_title: &'static str,
    pub err_bad_request: &'static str,
    pub err_forbidden: &'static str,
    pub err_not_found: &'static str,
    pub err_conflict: &'static str,
    pub err_too_large: &'static str,
    pub err_too_many: &'static str,
    pub err_internal: &'static str,
    pub err_csrf: &'static str,
    pub back_home: &'static str,
}

/// Spanish.
pub const ES: Text = Text {
    lang_code: "es",
    other_lang_code: "en",
    other_lang_name: "English",
    switch_language: "Cambiar idioma",
    app_name: "Visitas",
    tagline: "Videovisitas del hospital",
    nav_rooms: "Salas",
    nav_patients: "Pacientes",
    nav_staff: "Personal",
    logout: "Cerrar sesión",
    signed_in_as: "Sesión de",
    date_format: "%d/%m/%Y %H:%M",

    login_title: "Iniciar sesión",
    username: "Usuario",
    password: "Contraseña",
    password_confirm: "Repita la contraseña",
    display_name: "Nombre",
    login_button: "Entrar",
    login_failed: "Usuario o contraseña incorrectos.",
    login_throttled: "Demasiados intentos fallidos. Espere {n} minutos y vuelva a intentarlo.",

    setup_title: "Crear el primer administrador",
    setup_intro: "Este enlace sirve una sola vez y caduca en una hora. Cree la cuenta de administración; después podrá dar de alta al personal de enfermería.",
    setup_button: "Crear administrador",
    setup_invalid: "Este enlace de configuración no es válido, ya se usó o ha caducado. Reinicie el servidor para obtener uno nuevo, o use «visitas admin create».",

    err_required: "Este campo es obligatorio.",
    err_too_long: "Como máximo {n} caracteres.",
    err_control_chars: "No puede contener caracteres de control.",
    err_password_short: "La contraseña debe tener al menos {n} caracteres.",
    err_password_long: "La contraseña es demasiado larga.",
    err_password_common: "Esa contraseña es demasiado común. Elija otra.",
    err_password_mismatch: "Las contraseñas no coinciden.",
    err_password_username: "La contraseña no puede ser el nombre de usuario.",
    err_username_invalid: "Use de 3 a 64 letras, números, puntos, guiones o guiones bajos.",
    err_username_taken: "Ese nombre de usuario ya existe.",
    err_record_taken: "Ya hay un paciente con ese número de historia.",
    err_patient_discharged: "El paciente ha sido dado de alta: no se pueden crear salas nuevas.",
    form_has_errors: "Revise los campos marcados.",

    staff_title: "Personal",
    staff_new: "Nueva cuenta de enfermería",
    staff_create_button: "Crear cuenta",
    role: "Rol",
    role_admin: "Administración",
    role_nurse: "Enfermería",
    status: "Estado",
    active: "Activa",
    inactive: "Desactivada",
    deactivate_button: "Desactivar",
    err_self_deactivate: "No puede desactivar su propia cuenta.",
    ca_title: "Certificado del servidor",
    ca_help: "Instale este certificado de autoridad en las tabletas y ordenadores gestionados del hospital para que el navegador confíe en Visitas sin avisos.",
    ca_download: "Descargar el certificado de autoridad",
    ca_not_generated: "Este servidor usa el certificado propio del hospital.",

    patients_title: "Pacientes",
    patient_new: "Registrar paciente",
    patient_name: "Nombre del paciente",
    ward: "Planta / unidad",
    bed: "Cama",
    record_number: "Número de historia",
    optional: "opcional",
    search: "Buscar",
    search_placeholder: "Nombre, unidad, cama o historia",
    register_button: "Registrar",
    no_patients: "No hay pacientes.",
    admitted: "Ingresado",
    discharged: "Alta",
    discharge_button: "Dar de alta",
    discharge_help: "Al dar de alta se cierran sus salas y no se pueden crear nuevas.",
    patient_rooms: "Salas del paciente",

    rooms_title: "Salas abiertas",
    room_create_button: "Crear sala",
    created_at: "Creada",
    room_open: "Abierta",
    room_closed: "Cerrada",
    room_close_button: "Cerrar sala",
    open_room: "Abrir",
    no_rooms: "No hay salas abiertas.",
    present_now: "En la sala ahora",
    nobody: "Nadie",
    patient: "Paciente",
    room_title: "Sala",
    actions: "Acciones",

    error_title: "No se pudo completar",
    err_bad_request: "La petición no es válida.",
    err_forbidden: "No tiene permiso para ver esta página.",
    err_not_found: "No encontramos esta página.",
    err_conflict: "Esta acción no es posible en el estado actual.",
    err_too_large: "Los datos enviados son demasiado grandes.",
    err_too_many: "Demasiados intentos. Espere unos minutos y vuelva a intentarlo.",
    err_internal: "Algo ha fallado en el servidor. Vuelva a intentarlo; si sigue ocurriendo, avise al servicio de informática.",
    err_csrf: "Este formulario ha caducado o viene de otro sitio. Vuelva atrás, recargue la página e inténtelo de nuevo.",
    back_home: "Volver al inicio",
};

/// English.
pub const EN: Text = Text {
    lang_code: "en",
    other_lang_code: "es",
    other_lang_name: "Español",
    switch_language: "Change language",
    app_name: "Visitas",
    tagline: "Hospital video visits",
    nav_rooms: "Rooms",
    nav_patients: "Patients",
    nav_staff: "Staff",
    logout: "Sign out",
    signed_in_as: "Signed in as",
    date_format: "%Y-%m-%d %H:%M",

    login_title: "Sign in",
    username: "Username",
    password: "Password",
    password_confirm: "Repeat the password",
    display_name: "Name",
    login_button: "Sign in",
    login_failed: "Wrong username or password.",
    login_throttled: "Too many failed attempts. Wait {n} minutes and try again.",

    setup_title: "Create the first administrator",
    setup_intro: "This link works once and expires after one hour. Create the administrator account; then you can add the nursing staff.",
    setup_button: "Create administrator",
    setup_invalid: "This setup link is not valid, was already used or has expired. Restart the server to get a new one, or use “visitas admin create”.",

    err_required: "This field is required.",
    err_too_long: "At most {n} characters.",
    err_control_chars: "Must not contain control characters.",
    err_password_short: "The password must have at least {n} characters.",
    err_password_long: "The password is too long.",
    err_password_common: "That password is too common. Choose another one.",
    err_password_mismatch: "The passwords do not match.",
    err_password_username: "The password must not be the username.",
    err_username_invalid: "Use 3 to 64 letters, digits, dots, hyphens or underscores.",
    err_username_taken: "That username already exists.",
    err_record_taken: "A patient with that record number already exists.",
    err_patient_discharged: "The patient has been discharged: no new rooms can be created.",
    form_has_errors: "Please check the marked fields.",

    staff_title: "Staff",
    staff_new: "New nurse account",
    staff_create_button: "Create account",
    role: "Role",
    role_admin: "Administrator",
    role_nurse: "Nurse",
    status: "Status",
    active: "Active",
    inactive: "Deactivated",
    deactivate_button: "Deactivate",
    err_self_deactivate: "You cannot deactivate your own account.",
    ca_title: "Server certificate",
    ca_help: "Install this authority certificate on the hospital's managed tablets and computers so that browsers trust Visitas without warnings.",
    ca_download: "Download the authority certificate",
    ca_not_generated: "This server uses the hospital's own certificate.",

    patients_title: "Patients",
    patient_new: "Register patient",
    patient_name: "Patient's name",
    ward: "Ward",
    bed: "Bed",
    record_number: "Record number",
    optional: "optional",
    search: "Search",
    search_placeholder: "Name, ward, bed or record",
    register_button: "Register",
    no_patients: "No patients.",
    admitted: "Admitted",
    discharged: "Discharged",
    discharge_button: "Discharge",
    discharge_help: "Discharging closes the patient's rooms and no new ones can be created.",
    patient_rooms: "Patient's rooms",

    rooms_title: "Open rooms",
    room_create_button: "Create room",
    created_at: "Created",
    room_open: "Open",
    room_closed: "Closed",
    room_close_button: "Close room",
    open_room: "Open",
    no_rooms: "There are no open rooms.",
    present_now: "In the room now",
    nobody: "Nobody",
    patient: "Patient",
    room_title: "Room",
    actions: "Actions",

    error_title: "That did not work",
    err_bad_request: "The request is not valid.",
    err_forbidden: "You do not have permission to see this page.",
    err_not_found: "We could not find this page.",
    err_conflict: "This action is not possible in the current state.",
    err_too_large: "The data sent is too large.",
    err_too_many: "Too many attempts. Wait a few minutes and try again.",
    err_internal: "Something went wrong on the server. Try again; if it keeps happening, tell the IT service.",
    err_csrf: "This form has expired or came from another site. Go back, reload the page and try again.",
    back_home: "Back to the start",
};

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn accept_language_picks_the_highest_supported_quality() {
        assert_eq!(
            from_accept_language("fr, en;q=0.8, es;q=0.9"),
            Some(Lang::Es)
        );
        assert_eq!(from_accept_language("en-GB,en;q=0.9"), Some(Lang::En));
        assert_eq!(from_accept_language("de, fr"), None);
        assert_eq!(from_accept_language("es;q=0"), None);
    }

    #[test]
    fn the_cookie_wins_over_accept_language() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("es"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; visitas-lang=en"),
        );
        assert_eq!(Lang::negotiate(&headers, Lang::Es), Lang::En);
    }

    #[test]
    fn the_catalogs_name_each_other() {
        for lang in Lang::ALL {
            let text = lang.text();
            assert_eq!(text.lang_code, lang.code());
            let other = Lang::from_code(text.other_lang_code).expect("a supported language");
            assert_ne!(other, lang);
            assert_eq!(other.text().other_lang_code, lang.code());
        }
    }
}
