//! The dispatch slip (bordereau d'envoi) of outgoing or internal mail, for sending it on paper:
//! the pieces sent with their fingerprints, the copies for information, signature boxes.

use crate::access::Principal;
use crate::error::AppError;
use crate::App;
use diwan_core::correspondence::{DocumentRole, Purpose};
use diwan_core::numbering::Direction;
use diwan_core::CorrespondenceId;
use diwan_pdf::slip::{Piece, SlipData};

impl App {
    /// The dispatch slip of a correspondence the caller may read (outgoing or internal only).
    pub async fn dispatch_slip(
        &self,
        who: &Principal,
        id: CorrespondenceId,
    ) -> Result<Vec<u8>, AppError> {
        let tenant = self.store.tenant(who.admin());
        let c = tenant.correspondence(id).await?;
        let scope = who.read_scope(&tenant).await?;
        if !tenant.may_read(&scope, &c).await? {
            return Err(AppError::NotFound("correspondence".into()));
        }
        if c.direction == Direction::Incoming {
            return Err(AppError::field(
                "direction",
                "a dispatch slip goes with outgoing or internal mail, not incoming mail",
            ));
        }
        let admin = self.store.administration(who.admin()).await?;
        let register = tenant.register(c.register_id).await?;
        let state = tenant.processing_state(c.id).await?;
        let sender = tenant
            .entity(state.handling_entity.unwrap_or(register.entity_id))
            .await?;
        let mut recipient = vec![c.party_name.clone()];
        if let Some(contact) = c.contact_id {
            if let Some(address) = tenant.contact(contact).await?.address {
                recipient.push(address);
            }
        }
        let pieces = tenant
            .documents(c.id)
            .await?
            .into_iter()
            .filter(|d| d.role != DocumentRole::Receipt)
            .map(|d| Piece {
                designation: d.file_name.to_string(),
                count: 1,
                note: format!("SHA-256 {}", d.sha256.get(..16).unwrap_or(&d.sha256)),
            })
            .collect();
        let entities = tenant.entities().await?;
        let mut copies: Vec<String> = Vec::new();
        for a in tenant.assignments(c.id).await? {
            if a.purpose != Purpose::Information {
                continue;
            }
            if let Some(e) = entities.iter().find(|e| e.id == a.to_entity_id) {
                if !copies.contains(&e.names.fr) {
                    copies.push(e.names.fr.clone());
                }
            }
        }
        let day = c.registered_at.to_offset(self.offset()).date();
        let data = SlipData {
            administration_fr: admin.names.fr,
            administration_ar: admin.names.ar,
            sender_fr: sender.names.fr,
            sender_ar: sender.names.ar,
            number: c.number,
            date_line: format!(
                "Le {:02}/{:02}/{}",
                day.day(),
                u8::from(day.month()),
                day.year()
            ),
            recipient,
            subject: c.subject,
            pieces,
            copies,
            created: time::OffsetDateTime::now_utc(),
        };
        tokio::task::spawn_blocking(move || diwan_pdf::slip::render(&data))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
            .map_err(|e| AppError::Internal(e.to_string()))
    }
}
