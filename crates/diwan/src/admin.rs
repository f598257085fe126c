//! `diwan admin …`: operator commands run on the server.

use anyhow::{anyhow, Context, Result};
use clap::Subcommand;
use diwan_app::admin::{EntityRequest, MembershipRequest, RegisterRequest, UserRequest};
use diwan_app::App;
use diwan_core::numbering::Direction;
use diwan_core::org::{AdministrationKind, EntityKind, Level, Role};
use diwan_store::org::Names;
use diwan_store::Actor;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// List administrations.
    Administrations,
    /// Create an administration (tenant).
    CreateAdministration {
        /// Short code, e.g. MSANTE.
        code: String,
        #[arg(long, value_parser = parse_kind)]
        kind: AdministrationKind,
        #[arg(long)]
        name_fr: String,
        #[arg(long)]
        name_ar: String,
        #[arg(long)]
        name_zgh: Option<String>,
    },
    /// Show an administration's entity tree.
    Entities { administration: String },
    /// Add an entity to an administration.
    CreateEntity {
        administration: String,
        code: String,
        #[arg(long, value_parser = parse_entity_kind)]
        kind: EntityKind,
        #[arg(long, value_parser = parse_level)]
        level: Level,
        /// Code of the parent entity.
        #[arg(long)]
        parent: Option<String>,
        #[arg(long)]
        name_fr: String,
        #[arg(long)]
        name_ar: String,
        #[arg(long)]
        name_zgh: Option<String>,
    },
    /// Open a register at a registry office.
    CreateRegister {
        administration: String,
        /// Code of the registry office.
        entity: String,
        #[arg(long, value_parser = parse_direction)]
        direction: Direction,
        #[arg(long)]
        name: String,
        /// e.g. "{ENTITY}/{A|D|I}/{YYYY}/{000001}".
        #[arg(long)]
        format: Option<String>,
    },
    /// Create a user, optionally with a role in an entity.
    CreateUser {
        administration: String,
        login: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
        /// Read from DIWAN_NEW_PASSWORD when not given.
        #[arg(long, env = "DIWAN_NEW_PASSWORD", hide_env_values = true)]
        password: String,
        /// Entity code for the role.
        #[arg(long, requires = "role")]
        entity: Option<String>,
        #[arg(long, value_parser = parse_role, requires = "entity")]
        role: Option<Role>,
    },
    /// Give a user a role in an entity.
    Grant {
        administration: String,
        login: String,
        entity: String,
        #[arg(value_parser = parse_role)]
        role: Role,
    },
}

fn parse_kind(s: &str) -> Result<AdministrationKind, String> {
    s.parse()
        .map_err(|e: diwan_core::text::UnknownCode| e.to_string())
}
fn parse_entity_kind(s: &str) -> Result<EntityKind, String> {
    s.parse()
        .map_err(|e: diwan_core::text::UnknownCode| e.to_string())
}
fn parse_level(s: &str) -> Result<Level, String> {
    s.parse()
        .map_err(|e: diwan_core::text::UnknownCode| e.to_string())
}
fn parse_direction(s: &str) -> Result<Direction, String> {
    s.parse()
        .map_err(|e: diwan_core::text::UnknownCode| e.to_string())
}
fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
        .map_err(|e: diwan_core::text::UnknownCode| e.to_string())
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{e}")
}

pub async fn run(app: &App, cmd: AdminCommand) -> Result<()> {
    let actor = Actor::system("cli");
    let admin_of = |code: String| async move {
        app.store
            .administration_by_code(&code)
            .await
            .map_err(err)
            .context("administration")
    };
    match cmd {
        AdminCommand::Administrations => {
            for a in app.store.administrations().await.map_err(err)? {
                println!(
                    "{:<12} {:<16} {} / {}",
                    a.code,
                    a.kind.as_str(),
                    a.names.fr,
                    a.names.ar
                );
            }
        }
        AdminCommand::CreateAdministration {
            code,
            kind,
            name_fr,
            name_ar,
            name_zgh,
        } => {
            let names = Names::new(&name_fr, &name_ar, name_zgh.as_deref()).map_err(err)?;
            let a = app
                .store
                .create_administration(&code, kind, names, &actor)
                .await
                .map_err(err)?;
            println!("{}", a.id);
        }
        AdminCommand::Entities { administration } => {
            let a = admin_of(administration).await?;
            let list = app.store.tenant(a.id).entities().await.map_err(err)?;
            fn print(
                list: &[diwan_store::org::Entity],
                parent: Option<diwan_core::EntityId>,
                depth: usize,
            ) {
                for e in list.iter().filter(|e| e.parent == parent) {
                    println!(
                        "{}{} [{} · {}] {}",
                        "  ".repeat(depth),
                        e.code,
                        e.kind.as_str(),
                        e.level.as_str(),
                        e.names.fr
                    );
                    print(list, Some(e.id), depth + 1);
                }
            }
            print(&list, None, 0);
        }
        AdminCommand::CreateEntity {
            administration,
            code,
            kind,
            level,
            parent,
            name_fr,
            name_ar,
            name_zgh,
        } => {
            let a = admin_of(administration).await?;
            let tenant = app.store.tenant(a.id);
            let parent = match parent {
                Some(p) => Some(
                    tenant
                        .entity_by_code(&p)
                        .await
                        .map_err(err)
                        .context("parent")?
                        .id,
                ),
                None => None,
            };
            let e = app
                .create_entity(
                    a.id,
                    EntityRequest {
                        parent,
                        code,
                        kind,
                        level,
                        name_fr,
                        name_ar,
                        name_zgh,
                    },
                    &actor,
                )
                .await
                .map_err(err)?;
            println!("{}", e.id);
        }
        AdminCommand::CreateRegister {
            administration,
            entity,
            direction,
            name,
            format,
        } => {
            let a = admin_of(administration).await?;
            let e = app
                .store
                .tenant(a.id)
                .entity_by_code(&entity)
                .await
                .map_err(err)
                .context("entity")?;
            let r = app
                .create_register(
                    a.id,
                    RegisterRequest {
                        entity: e.id,
                        direction,
                        name,
                        number_format: format,
                    },
                    &actor,
                )
                .await
                .map_err(err)?;
            println!("{}", r.id);
        }
        AdminCommand::CreateUser {
            administration,
            login,
            name,
            email,
            password,
            entity,
            role,
        } => {
            let a = admin_of(administration).await?;
            let tenant = app.store.tenant(a.id);
            let mut memberships = Vec::new();
            if let (Some(e), Some(role)) = (entity, role) {
                memberships.push(MembershipRequest {
                    entity: tenant.entity_by_code(&e).await.map_err(err)?.id,
                    role,
                });
            }
            let u = app
                .create_user(
                    a.id,
                    UserRequest {
                        login,
                        display_name: name,
                        email,
                        password,
                        memberships,
                    },
                    &actor,
                )
                .await
                .map_err(err)?;
            println!("{}", u.id);
        }
        AdminCommand::Grant {
            administration,
            login,
            entity,
            role,
        } => {
            let a = admin_of(administration).await?;
            let tenant = app.store.tenant(a.id);
            let user = tenant
                .users()
                .await
                .map_err(err)?
                .into_iter()
                .find(|u| u.login == login.to_lowercase())
                .ok_or_else(|| anyhow!("no user {login}"))?;
            let e = tenant.entity_by_code(&entity).await.map_err(err)?;
            app.add_membership(
                a.id,
                user.id,
                MembershipRequest { entity: e.id, role },
                &actor,
            )
            .await
            .map_err(err)?;
        }
    }
    Ok(())
}
