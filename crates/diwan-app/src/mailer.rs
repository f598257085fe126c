//! Delivery of the outbox: e-mails queued by transactions are sent by this worker through a real
//! SMTP server, and retried with exponential backoff when the server refuses or is unreachable.

use crate::context::App;
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// Why a message could not be handed over.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid address: {0}")]
    Address(String),
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("SMTP: {0}")]
    Smtp(String),
}

fn transport(app: &App) -> Result<Option<AsyncSmtpTransport<Tokio1Executor>>, MailError> {
    let c = &app.config.smtp;
    if c.host.is_empty() {
        return Ok(None);
    }
    let mut b = match c.security.as_str() {
        "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&c.host)
            .map_err(|e| MailError::Smtp(e.to_string()))?,
        "starttls" => {
            let params =
                TlsParameters::new(c.host.clone()).map_err(|e| MailError::Smtp(e.to_string()))?;
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host)
                .tls(Tls::Required(params))
        }
        _ => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host),
    };
    b = b.port(c.port).timeout(Some(Duration::from_secs(20)));
    if let (Some(u), Some(p)) = (&c.username, &c.password) {
        b = b.credentials(Credentials::new(u.clone(), p.clone()));
    }
    Ok(Some(b.build()))
}

impl App {
    /// Sends every due message once. Returns (sent, failed).
    pub async fn deliver_outbox(&self) -> Result<(usize, usize), crate::AppError> {
        let Ok(Some(smtp)) = transport(self) else {
            return Ok((0, 0));
        };
        let from: Mailbox =
            self.config.smtp.from.parse().map_err(|e| {
                crate::AppError::Internal(format!("smtp.from is not an address: {e}"))
            })?;
        let (mut sent, mut failed) = (0, 0);
        for m in self.store.due_messages(100).await? {
            let result: Result<(), MailError> = async {
                let to: Mailbox = m
                    .recipient
                    .parse()
                    .map_err(|e| MailError::Address(format!("{e}")))?;
                let email = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(m.subject.clone())
                    .header(ContentType::TEXT_PLAIN)
                    .body(m.body.clone())
                    .map_err(|e| MailError::Build(e.to_string()))?;
                smtp.send(email)
                    .await
                    .map_err(|e| MailError::Smtp(e.to_string()))?;
                Ok(())
            }
            .await;
            match result {
                Ok(()) => {
                    self.store.message_sent(&m.id).await?;
                    sent += 1;
                }
                Err(e) => {
                    tracing::warn!(message = %m.id, attempt = m.attempts + 1, error = %e, "e-mail not delivered");
                    self.store
                        .message_failed(&m.id, m.attempts, &e.to_string())
                        .await?;
                    failed += 1;
                }
            }
        }
        Ok((sent, failed))
    }

    /// Runs the outbox worker until `stop` resolves.
    pub async fn run_outbox(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        if self.config.smtp.host.is_empty() {
            tracing::info!("no SMTP server configured: e-mails stay queued in the outbox");
        }
        loop {
            if let Err(e) = self.deliver_outbox().await {
                tracing::error!(error = %e, "outbox delivery failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
