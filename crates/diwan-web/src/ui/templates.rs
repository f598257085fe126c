//! Page templates (minijinja), embedded in the binary.
//!
//! Every page extends `base.html` and receives at least `lang` (code), `dir`, `langs`, `path`;
//! logged-in pages also `user` and `csrf`. `t("key")` translates in the page's language.

use crate::i18n::Lang;
use minijinja::{Environment, State, Value};

/// The embedded templates, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("home.html", include_str!("../../templates/home.html")),
    (
        "register.html",
        include_str!("../../templates/register.html"),
    ),
    ("new.html", include_str!("../../templates/new.html")),
    ("queues.html", include_str!("../../templates/queues.html")),
    (
        "dashboard.html",
        include_str!("../../templates/dashboard.html"),
    ),
    (
        "correspondence.html",
        include_str!("../../templates/correspondence.html"),
    ),
    (
        "portal_directory.html",
        include_str!("../../templates/portal_directory.html"),
    ),
    (
        "portal_file.html",
        include_str!("../../templates/portal_file.html"),
    ),
    (
        "portal_done.html",
        include_str!("../../templates/portal_done.html"),
    ),
    ("track.html", include_str!("../../templates/track.html")),
    ("verify.html", include_str!("../../templates/verify.html")),
    (
        "portal_nav.html",
        include_str!("../../templates/portal_nav.html"),
    ),
    (
        "admin_webhooks.html",
        include_str!("../../templates/admin_webhooks.html"),
    ),
    (
        "parapheur.html",
        include_str!("../../templates/parapheur.html"),
    ),
    (
        "parapheur_new.html",
        include_str!("../../templates/parapheur_new.html"),
    ),
    (
        "parapheur_folder.html",
        include_str!("../../templates/parapheur_folder.html"),
    ),
    (
        "parapheur_delegations.html",
        include_str!("../../templates/parapheur_delegations.html"),
    ),
];

/// The template environment.
pub struct Templates {
    env: Environment<'static>,
}

fn translate(state: &State, key: &str) -> String {
    let lang = state
        .lookup("lang")
        .and_then(|v| v.as_str().and_then(Lang::parse))
        .unwrap_or(Lang::Fr);
    lang.t(key)
}

/// A type of request as a form option: its label in the page's language, its deadline.
fn procedure_label(state: &State, p: Value) -> String {
    let lang = state
        .lookup("lang")
        .and_then(|v| v.as_str().and_then(Lang::parse))
        .unwrap_or(Lang::Fr);
    let field = |k: &str| {
        p.get_attr(k)
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_none())
    };
    let label = field(if lang == Lang::Ar {
        "label_ar"
    } else {
        "label_fr"
    })
    .map(|v| v.to_string())
    .unwrap_or_default();
    let Some(days) = field("days") else {
        return label;
    };
    let unit = match field("unit").map(|u| u.to_string()).as_deref() {
        Some("calendar") => "procedure.days_calendar",
        _ => "procedure.days_working",
    };
    let mut out = format!(
        "{label} — {}",
        lang.t(unit).replace("{n}", &days.to_string())
    );
    if field("silence_means_acceptance").is_some_and(|v| v.is_true()) {
        out.push_str(" — ");
        out.push_str(&lang.t("procedure.silence"));
    }
    out
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        for (name, src) in TEMPLATES {
            // Templates are part of the binary and checked by tests; a broken one is a build bug.
            if let Err(e) = env.add_template(name, src) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        env.add_function("t", translate);
        env.add_function("procedure_label", procedure_label);
        Self { env }
    }

    /// Renders a template.
    pub fn render(&self, name: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        let mut env = Environment::new();
        for (name, src) in TEMPLATES {
            env.add_template(name, src)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    /// Every page renders, signed in and not, in every language, with empty and full data.
    #[test]
    fn every_page_renders() {
        let t = Templates::new();
        let full: serde_json::Value = serde_json::from_str(r#"{
            "path": "/registre", "langs": [{"code": "fr", "name": "Français", "current": true}],
            "user": {"name": "Clerk", "login": "bo@x", "roles": ["registry_clerk"]}, "csrf": "x",
            "items": [{"id": "1", "number": "BO/A/2026/000001", "code": "X", "fr": "a", "ar": "b",
                       "status": "registered", "channel": "counter", "priority": "urgent",
                       "direction": "incoming", "due": "01/01/2026", "late": true, "confidential": true}],
            "total": 1, "page": 1, "pages": 2, "per_page": 25, "qs": "per_page=25",
            "registers": [{"id": "r", "name": "Arrivée", "direction": "incoming"}],
            "f": {"q": "x", "register": "r", "year": "2026"}, "statuses": ["registered"], "warnings": ["w"],
            "v": {"direction": "incoming"}, "errors": {"subject": "must not be empty"},
            "error_list": [{"field": "subject", "message": "must not be empty"}], "general": "g",
            "c": {"id": "1", "number": "N", "subject": "S", "direction": "incoming", "status": "registered",
                  "priority": "urgent", "channel": "counter", "party_kind": "person", "party": "P", "summary": "s"},
            "documents": [{"id": "d", "name": "a.pdf", "type": "pdf", "role": "main", "size": "1 Ko", "sha256": "00"}],
            "history": [{"at": "t", "who": "w", "action": "correspondence.register", "ip": "::1"},
                        {"at": "t", "who": "w", "action": "correspondence.assign", "details": "Division"}],
            "assignments": [{"id": "a", "to": "Division", "person": "P", "from": "D", "purpose": "action", "state": "open",
                             "instructions": "i", "due": "01/01/2026", "outcome": "o", "by": "B", "at": "t"}],
            "own_open": [{"id": "a", "purpose": "opinion"}, {"id": "b", "purpose": "information"}],
            "notes": [{"body": "n", "by": "B", "at": "t", "restricted": true}],
            "replies": [{"id": "r", "number": "N", "subject": "S", "status": "sent", "at": "t"}],
            "in_reply_to": {"id": "i", "number": "N"}, "entities": [{"id": "e", "name": "E", "level": "central", "open": 2, "late": 1, "finished": 3, "average": "4.5"}],
            "next_statuses": ["in_progress", "closed"], "writer": true, "notice": "assigned",
            "counts": [{"name": "to_handle", "count": 2}, {"name": "late", "count": 1}], "current": "to_handle", "q": "x",
            "months": [{"month": "2026-11", "incoming": 3, "outgoing": 1, "internal": 0}], "more": true,
            "volumes_svg": "<svg></svg>", "load_svg": "<svg></svg>",
            "a": {"code": "X", "fr": "a", "ar": "b", "zgh": "ⵣ"}, "offices": [{"code": "o", "fr": "a", "ar": "b"}, {"code": "p", "fr": "a", "ar": "b"}],
            "challenge": true, "max_mb": 100, "number": "N", "code": "C", "registered": "r", "due": "d",
            "pdf": "/p", "json": "/j", "email": "a@b.c",
            "result": {"number": "N", "administration": "A", "status": "registered", "registered": "r", "due": "d", "pdf": "/p", "service": "S", "outcome": "o", "answer": {"number": "R", "date": "d", "subject": "s", "text": "t"}},
            "outcomes": [{"file": "f", "kind": "receipt", "ok": false, "checks": [{"ok": false, "what": "seal"}], "number": "N"}],
            "ok": false, "error": {"title": "t", "detail": "d", "status": 404},
            "folder": {"id": "f", "title": "T", "document_type": "letter", "status": "in_circuit", "level": "b-t", "author": "A", "created": "c", "completed": "d"},
            "steps": [{"position": 1, "kind": "signature", "who": "W", "quorum": "all", "state": "current", "current": true,
                       "actors": [{"name": "N", "state": "pending", "at": "t"}]}],
            "awaiting": true, "current_kind": "signature", "can_start": true, "can_recall": true, "completed": true,
            "batch": {"done": 2, "failed": 1}, "rows": [0, 1], "document_types": ["letter"], "done": "sign", "message": "m",
            "values": {"title": "T", "kind_0": "visa", "who_0": "head:author_entity", "send": "1"},
            "users": [{"id": "u", "name": "U"}], "today": "2026-01-01",
            "event_types": ["status_changed"], "created": {"id": "w", "url": "https://x", "secret": "whsec_x"},
            "deliveries": [{"event": "status_changed", "state": "pending", "attempts": 1, "status": 500, "error": "e", "at": "t", "next": "n"}],
            "procedures": [{"code": "general", "label_fr": "G", "label_ar": "ع", "days": 60, "unit": "working", "silence_means_acceptance": true},
                           {"code": "none", "label_fr": "N", "label_ar": "ن", "days": null}]
        }"#)
        .expect("sample context");
        for lang in ["fr", "ar", "zgh", "en"] {
            for (name, _) in TEMPLATES {
                for data in [
                    serde_json::json!({
                        "path": "/", "lang": lang, "error": {"title": "t", "detail": "d", "status": 500},
                        "user": {"name": "U", "roles": []}, "a": {"code": "X"}, "c": {"id": "1"},
                        "f": {}, "v": {}, "errors": {}, "result": {}, "offices": [], "procedures": [],
                        "folder": {"id": "f"}, "values": {},
                    }),
                    {
                        let mut f = full.clone();
                        f["lang"] = lang.into();
                        f
                    },
                ] {
                    let out = t
                        .render(name, Value::from_serialize(&data))
                        .unwrap_or_else(|e| panic!("{name} ({lang}): {e:#}"));
                    // The reply form shows the mail-merge fields literally.
                    let mut out = out;
                    for f in ["number", "subject", "party", "received", "letter_date"] {
                        out = out.replace(&format!("{{{{ {f} }}}}"), "");
                    }
                    assert!(!out.contains("{{"), "{name}: unrendered markup");
                }
            }
        }
    }
}
