//! Registering correspondence at a registry office (API and clerk's screen).

use crate::access::Principal;
use crate::context::App;
use crate::error::{AppError, FieldError};
use crate::upload::AcceptedFile;
use diwan_core::calendar::DeadlineRule;
use diwan_core::correspondence::{Channel, Confidentiality, ContactKind, DocumentRole, Priority};
use diwan_core::numbering::Direction;
use diwan_core::{ContactId, RegisterId};
use diwan_store::registry::{NewCorrespondence, NewDocument, Party, Registered};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

/// The sender or recipient as given by a client.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PartyInput {
    pub kind: ContactKind,
    pub name: String,
    /// National ID number (person), ICE (company) or administration code.
    #[serde(default)]
    pub id_number: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

impl From<PartyInput> for Party {
    fn from(p: PartyInput) -> Party {
        Party {
            kind: p.kind,
            name: p.name,
            id_number: p.id_number,
            email: p.email,
            phone: p.phone,
            address: p.address,
        }
    }
}

/// The metadata of a registration (`metadata` part of `POST /api/v1/correspondences`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRequest {
    pub direction: Direction,
    pub subject: String,
    #[serde(default)]
    pub summary: Option<String>,
    /// Who sent it (incoming, internal).
    #[serde(default)]
    pub sender: Option<PartyInput>,
    /// Who it goes to (outgoing, internal).
    #[serde(default)]
    pub recipient: Option<PartyInput>,
    /// An entry of the contacts directory instead of `sender`/`recipient`.
    #[serde(default)]
    pub contact: Option<ContactId>,
    /// Defaults to the caller's registry office register of that direction.
    #[serde(default)]
    pub register: Option<RegisterId>,
    /// Date written on the letter (YYYY-MM-DD).
    #[serde(default, with = "opt_date")]
    pub letter_date: Option<Date>,
    /// When the letter arrived (RFC 3339); defaults to now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub received_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub external_ref: Option<String>,
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub confidentiality: Option<Confidentiality>,
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Legal deadline of an incoming request (default: general, 60 days).
    #[serde(default)]
    /// The type of request, which sets the legal deadline of an incoming correspondence:
    /// `general` (default, law 55-19), `investment`, `access_to_information` (law 31-13),
    /// `none`, or one the administration defined.
    pub procedure: Option<String>,
    /// An explicit due date, overriding the procedure's.
    #[serde(default, with = "opt_date")]
    pub due_date: Option<Date>,
}

/// `YYYY-MM-DD` dates in JSON.
pub mod opt_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    pub fn parse(s: &str) -> Result<Date, String> {
        Date::parse(s, &time::format_description::well_known::Iso8601::DATE)
            .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)"))
    }

    pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format!(
                "{:04}-{:02}-{:02}",
                d.year(),
                u8::from(d.month()),
                d.day()
            )),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        match s.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => parse(s).map(Some).map_err(serde::de::Error::custom),
        }
    }
}

impl App {
    /// Registers a correspondence with its files (the first is the main document).
    pub async fn register_correspondence(
        &self,
        who: &Principal,
        req: RegistrationRequest,
        files: Vec<AcceptedFile>,
    ) -> Result<Registered, AppError> {
        who.require_writer()?;
        let tenant = self.store.tenant(who.admin());
        let mut errors = Vec::new();
        if files.is_empty() {
            errors.push(FieldError {
                field: "file".into(),
                message: "at least one document is required".into(),
            });
        }
        let party = match (
            req.direction,
            req.sender.clone(),
            req.recipient.clone(),
            req.contact,
        ) {
            (_, _, _, Some(c)) => {
                let c = tenant
                    .contact(c)
                    .await
                    .map_err(|_| AppError::field("contact", "no such contact"))?;
                Party {
                    kind: c.kind,
                    name: c.name,
                    id_number: c.id_number,
                    email: c.email,
                    phone: c.phone,
                    address: c.address,
                }
            }
            (Direction::Incoming, Some(s), _, _) => s.into(),
            (Direction::Outgoing, _, Some(r), _) => r.into(),
            // The record has one correspondent; clients that name it `sender` whatever the
            // direction are understood.
            (Direction::Outgoing, Some(s), None, _) => s.into(),
            (Direction::Internal, Some(p), _, _) | (Direction::Internal, None, Some(p), _) => {
                p.into()
            }
            (Direction::Incoming, None, _, _) => {
                errors.push(FieldError {
                    field: "sender".into(),
                    message: "an incoming correspondence needs a sender".into(),
                });
                Party {
                    kind: ContactKind::Person,
                    name: String::new(),
                    id_number: None,
                    email: None,
                    phone: None,
                    address: None,
                }
            }
            (_, _, None, _) => {
                errors.push(FieldError {
                    field: "recipient".into(),
                    message: "this correspondence needs a recipient".into(),
                });
                Party {
                    kind: ContactKind::Person,
                    name: String::new(),
                    id_number: None,
                    email: None,
                    phone: None,
                    address: None,
                }
            }
        };
        if let Err(e) = diwan_store::registry::clean_party(&party) {
            if errors.is_empty() {
                errors.push(FieldError {
                    field: party_field(req.direction).into(),
                    message: strip_invalid(&e.to_string()),
                });
            }
        }
        if req.subject.trim().is_empty() {
            errors.push(FieldError {
                field: "subject".into(),
                message: "must not be empty".into(),
            });
        }
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }

        let register = match req.register {
            Some(id) => tenant
                .register(id)
                .await
                .map_err(|_| AppError::NotFound(format!("register {id}")))?,
            None => {
                let mine = who.clerk_registers(&tenant).await?;
                let mut of_dir = mine.into_iter().filter(|r| r.direction == req.direction);
                match (of_dir.next(), of_dir.next()) {
                    (Some(r), None) => r,
                    (Some(_), Some(_)) => {
                        return Err(AppError::field("register", "you work at several registry offices: say which register"))
                    }
                    (None, _) => {
                        return Err(AppError::field(
                            "register",
                            format!("you are not a registry clerk of a registry office with an {} register; give `register`", req.direction),
                        ))
                    }
                }
            }
        };
        if register.direction != req.direction {
            return Err(AppError::field(
                "register",
                format!(
                    "register {:?} holds {} mail, not {}",
                    register.name, register.direction, req.direction
                ),
            ));
        }
        if !who.can_register_in(&register) {
            return Err(AppError::Forbidden(format!(
                "you may not register in {:?}",
                register.name
            )));
        }

        let today = self.today();
        let due = match (req.due_date, req.direction) {
            (Some(d), _) => {
                if d < today {
                    return Err(AppError::field("due_date", "is in the past"));
                }
                // A date set by hand: calendar days from today, no legal basis.
                let days = (d - today).whole_days().max(0) as u32;
                Some(diwan_core::calendar::Due {
                    date: d,
                    rule: DeadlineRule {
                        days,
                        unit: diwan_core::calendar::DayUnit::Calendar,
                        law: diwan_core::calendar::LegalBasis::Internal,
                        silence_means_acceptance: false,
                    },
                    procedure: None,
                })
            }
            (None, Direction::Incoming) => {
                self.due_for(who.admin(), req.procedure.as_deref()).await?
            }
            (None, _) => None,
        };
        let now = OffsetDateTime::now_utc();
        let received_at = req.received_at.unwrap_or(now);
        if received_at > now + time::Duration::minutes(5) {
            return Err(AppError::field("received_at", "is in the future"));
        }
        let channel = req.channel.unwrap_or(match req.direction {
            Direction::Internal => Channel::Internal,
            _ => Channel::Counter,
        });
        if channel == Channel::Portal || channel == Channel::InterAdministration {
            return Err(AppError::field(
                "channel",
                "portal and inter-administration mail is registered by the platform itself",
            ));
        }
        let documents = files
            .into_iter()
            .enumerate()
            .map(|(i, f)| NewDocument {
                role: if i == 0 {
                    DocumentRole::Main
                } else {
                    DocumentRole::Attachment
                },
                file_name: f.name,
                media_type: f.media_type,
                blob: f.blob,
            })
            .collect();
        let new = NewCorrespondence {
            register: register.id,
            direction: req.direction,
            subject: req.subject,
            summary: req.summary,
            party,
            contact: req.contact,
            letter_date: req.letter_date,
            received_at,
            external_ref: req.external_ref,
            channel,
            confidentiality: req.confidentiality.unwrap_or(Confidentiality::Normal),
            priority: req.priority.unwrap_or(Priority::Normal),
            due,
            documents,
            portal: None,
        };
        Ok(tenant
            .register_correspondence(new, &who.actor(), self.offset())
            .await?)
    }
}

fn party_field(d: Direction) -> &'static str {
    match d {
        Direction::Outgoing => "recipient",
        _ => "sender",
    }
}

fn strip_invalid(s: &str) -> String {
    s.strip_prefix("invalid: ").unwrap_or(s).to_string()
}
