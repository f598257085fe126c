//! The demo platform: two administrations with their organisation, users for every role and
//! some correspondence, so that a new installation can be explored at once.

use crate::context::App;
use crate::error::AppError;
use diwan_core::correspondence::{Channel, Confidentiality, ContactKind, DocumentRole, Priority};
use diwan_core::media::MediaType;
use diwan_core::numbering::{Direction, NumberFormat};
use diwan_core::org::{AdministrationKind, EntityKind, Level, Role};
use diwan_core::text::FileName;
use diwan_store::auth::hash_password;
use diwan_store::org::{Entity, Names, NewEntity};
use diwan_store::registry::{NewCorrespondence, NewDocument, Party};
use diwan_store::{Actor, Tenant};
use rand::Rng;
use serde::Serialize;

/// One demo account, as written to `demo-logins.json`.
#[derive(Debug, Clone, Serialize)]
pub struct DemoLogin {
    pub login: String,
    pub password: String,
    pub role: Role,
    pub administration: String,
    pub entity: String,
}

struct EntitySpec {
    code: &'static str,
    parent: Option<&'static str>,
    kind: EntityKind,
    level: Level,
    fr: &'static str,
    ar: &'static str,
    zgh: Option<&'static str>,
}

struct AdminSpec {
    code: &'static str,
    kind: AdministrationKind,
    fr: &'static str,
    ar: &'static str,
    zgh: Option<&'static str>,
    entities: &'static [EntitySpec],
    /// (login suffix, role, entity code, display name)
    users: &'static [(&'static str, Role, &'static str, &'static str)],
}

const MINISTRY: AdminSpec = AdminSpec {
    code: "MTNRA",
    kind: AdministrationKind::Ministry,
    fr: "Ministère de la Transition numérique et de la Réforme de l'administration",
    ar: "وزارة الانتقال الرقمي وإصلاح الإدارة",
    zgh: Some("ⵜⴰⵎⴰⵡⴰⵙⵜ ⵏ ⵓⵎⵓⵏⵏⵉ ⴰⵏⵓⵎⵉⵏ"),
    entities: &[
        EntitySpec {
            code: "SG",
            parent: None,
            kind: EntityKind::Directorate,
            level: Level::Central,
            fr: "Secrétariat général",
            ar: "الكتابة العامة",
            zgh: None,
        },
        EntitySpec {
            code: "BO-CENTRAL",
            parent: Some("SG"),
            kind: EntityKind::RegistryOffice,
            level: Level::Central,
            fr: "Bureau d'ordre central",
            ar: "مكتب الضبط المركزي",
            zgh: None,
        },
        EntitySpec {
            code: "DSI",
            parent: Some("SG"),
            kind: EntityKind::Directorate,
            level: Level::Central,
            fr: "Direction des systèmes d'information",
            ar: "مديرية نظم المعلومات",
            zgh: None,
        },
        EntitySpec {
            code: "DSI-DEV",
            parent: Some("DSI"),
            kind: EntityKind::Division,
            level: Level::Central,
            fr: "Division du développement",
            ar: "قسم التطوير",
            zgh: None,
        },
        EntitySpec {
            code: "DSI-DEV-SA",
            parent: Some("DSI-DEV"),
            kind: EntityKind::Service,
            level: Level::Central,
            fr: "Service des applications",
            ar: "مصلحة التطبيقات",
            zgh: None,
        },
        EntitySpec {
            code: "DRH",
            parent: Some("SG"),
            kind: EntityKind::Directorate,
            level: Level::Central,
            fr: "Direction des ressources humaines",
            ar: "مديرية الموارد البشرية",
            zgh: None,
        },
        EntitySpec {
            code: "DR-RSK",
            parent: Some("SG"),
            kind: EntityKind::Directorate,
            level: Level::Regional,
            fr: "Direction régionale Rabat-Salé-Kénitra",
            ar: "المديرية الجهوية الرباط سلا القنيطرة",
            zgh: None,
        },
        EntitySpec {
            code: "BO-RSK",
            parent: Some("DR-RSK"),
            kind: EntityKind::RegistryOffice,
            level: Level::Regional,
            fr: "Bureau d'ordre régional RSK",
            ar: "مكتب الضبط الجهوي",
            zgh: None,
        },
        EntitySpec {
            code: "DP-KEN",
            parent: Some("DR-RSK"),
            kind: EntityKind::Directorate,
            level: Level::Provincial,
            fr: "Direction provinciale de Kénitra",
            ar: "المديرية الإقليمية بالقنيطرة",
            zgh: None,
        },
    ],
    users: &[
        ("bo", Role::RegistryClerk, "BO-CENTRAL", "Khadija Benali"),
        ("bo.rsk", Role::RegistryClerk, "BO-RSK", "Youssef Amrani"),
        ("chef.dsi", Role::Head, "DSI", "Nadia El Fassi"),
        ("chef.dev", Role::Head, "DSI-DEV", "Omar Tazi"),
        ("agent.sa", Role::Agent, "DSI-DEV-SA", "Salma Berrada"),
        ("chef.kenitra", Role::Head, "DP-KEN", "Rachid Alaoui"),
        ("agent.kenitra", Role::Agent, "DP-KEN", "Hind Chraibi"),
        ("sg", Role::Signatory, "SG", "Mohammed Bennani"),
        ("admin", Role::Admin, "SG", "Administrateur MTNRA"),
        ("audit", Role::Auditor, "SG", "Inspection générale"),
    ],
};

const COMMUNE: AdminSpec = AdminSpec {
    code: "CTANGER",
    kind: AdministrationKind::LocalAuthority,
    fr: "Commune de Tanger",
    ar: "جماعة طنجة",
    zgh: Some("ⵜⴰⵎⵙⵎⵓⵏⵜ ⵏ ⵟⴰⵏⵊⴰ"),
    entities: &[
        EntitySpec {
            code: "PRES",
            parent: None,
            kind: EntityKind::Directorate,
            level: Level::Local,
            fr: "Présidence du conseil communal",
            ar: "رئاسة المجلس الجماعي",
            zgh: None,
        },
        EntitySpec {
            code: "BO-COMMUNE",
            parent: Some("PRES"),
            kind: EntityKind::RegistryOffice,
            level: Level::Local,
            fr: "Bureau d'ordre communal",
            ar: "مكتب الضبط الجماعي",
            zgh: None,
        },
        EntitySpec {
            code: "DGS",
            parent: Some("PRES"),
            kind: EntityKind::Directorate,
            level: Level::Local,
            fr: "Direction générale des services",
            ar: "المديرية العامة للمصالح",
            zgh: None,
        },
        EntitySpec {
            code: "URB",
            parent: Some("DGS"),
            kind: EntityKind::Service,
            level: Level::Local,
            fr: "Service de l'urbanisme",
            ar: "مصلحة التعمير",
            zgh: None,
        },
        EntitySpec {
            code: "ETAT-CIVIL",
            parent: Some("DGS"),
            kind: EntityKind::Service,
            level: Level::Local,
            fr: "Service de l'état civil",
            ar: "مصلحة الحالة المدنية",
            zgh: None,
        },
    ],
    users: &[
        (
            "bo",
            Role::RegistryClerk,
            "BO-COMMUNE",
            "Fatima Zahra Idrissi",
        ),
        ("chef.dgs", Role::Head, "DGS", "Karim Ouazzani"),
        ("chef.urb", Role::Head, "URB", "Laila Mernissi"),
        ("agent.urb", Role::Agent, "URB", "Anas Lahlou"),
        ("president", Role::Signatory, "PRES", "Abdellatif Senhaji"),
        ("admin", Role::Admin, "PRES", "Administrateur communal"),
        ("audit", Role::Auditor, "PRES", "Contrôle interne"),
    ],
};

/// Sample letters: (subject, sender, kind, id number).
const LETTERS: &[(&str, &str, ContactKind, Option<&str>)] = &[
    (
        "Demande de raccordement au réseau administratif",
        "Société Atlas Numérique SARL",
        ContactKind::Company,
        Some("002345678000091"),
    ),
    (
        "Réclamation concernant un dossier de retraite",
        "Ahmed Bouzid",
        ContactKind::Person,
        Some("AB123456"),
    ),
    (
        "Demande d'accès à l'information — marchés 2025",
        "Association Transparence Maroc",
        ContactKind::Company,
        None,
    ),
    (
        "Invitation à la réunion de coordination régionale",
        "Wilaya de la région Rabat-Salé-Kénitra",
        ContactKind::Administration,
        Some("WRSK"),
    ),
    (
        "طلب الحصول على شهادة إدارية",
        "فاطمة الزهراء العلوي",
        ContactKind::Person,
        Some("K987654"),
    ),
    (
        "Transmission du rapport trimestriel d'activité",
        "Agence de Développement du Digital",
        ContactKind::Administration,
        Some("ADD"),
    ),
    (
        "Demande d'autorisation de construire — lot 42",
        "Immobilière du Détroit SA",
        ContactKind::Company,
        Some("001122334000055"),
    ),
    (
        "Candidature spontanée — ingénieur réseaux",
        "Yassine Mouline",
        ContactKind::Person,
        None,
    ),
];

fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let s: String = (0..14)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{}-{}", &s[..7], &s[7..])
}

impl App {
    /// Creates the demo platform. Refuses to run on a platform that already has administrations.
    pub async fn create_demo(&self) -> Result<Vec<DemoLogin>, AppError> {
        if !self.store.administrations().await?.is_empty() {
            return Err(AppError::Conflict(
                "this data directory already holds a platform; use an empty directory for the demo"
                    .into(),
            ));
        }
        let mut logins = Vec::new();
        for spec in [&MINISTRY, &COMMUNE] {
            logins.extend(self.demo_admin(spec).await?);
        }
        // Mail between the two administrations, with its evidence.
        self.demo_delivery(MINISTRY.code, COMMUNE.code).await?;
        Ok(logins)
    }

    async fn demo_admin(&self, spec: &AdminSpec) -> Result<Vec<DemoLogin>, AppError> {
        let actor = Actor::system("demo");
        let admin = self
            .store
            .create_administration(
                spec.code,
                spec.kind,
                Names::new(spec.fr, spec.ar, spec.zgh)?,
                &actor,
            )
            .await?;
        let tenant = self.store.tenant(admin.id);
        let mut entities: Vec<Entity> = Vec::new();
        for e in spec.entities {
            let parent = e
                .parent
                .and_then(|p| entities.iter().find(|x| x.code == p))
                .map(|x| x.id);
            let created = tenant
                .create_entity(
                    NewEntity {
                        parent,
                        code: e.code.into(),
                        kind: e.kind,
                        level: e.level,
                        names: Names::new(e.fr, e.ar, e.zgh)?,
                    },
                    &actor,
                )
                .await?;
            if e.kind == EntityKind::RegistryOffice {
                for (d, name) in [
                    (Direction::Incoming, "Registre arrivée"),
                    (Direction::Outgoing, "Registre départ"),
                    (Direction::Internal, "Registre interne"),
                ] {
                    tenant
                        .create_register(created.id, d, name, &NumberFormat::default(), &actor)
                        .await?;
                }
            }
            entities.push(created);
        }
        let mut logins = Vec::new();
        let prefix = spec.code.to_lowercase();
        for (suffix, role, entity_code, name) in spec.users {
            let password = random_password();
            let hash = {
                let p = password.clone();
                tokio::task::spawn_blocking(move || hash_password(&p))
                    .await
                    .map_err(|e| AppError::Internal(e.to_string()))??
            };
            let login = format!("{suffix}@{prefix}");
            let email = format!("{}@{prefix}.gov.ma", suffix.replace('.', "-"));
            let user = tenant
                .create_user(&login, name, Some(&email), &hash, &actor)
                .await?;
            let entity = entities
                .iter()
                .find(|e| e.code == *entity_code)
                .ok_or_else(|| AppError::Internal(format!("demo entity {entity_code} missing")))?;
            tenant
                .add_membership(user.id, entity.id, *role, &actor)
                .await?;
            if *role == Role::Head {
                // Heads sign in the signature book.
                tenant
                    .add_membership(user.id, entity.id, Role::Signatory, &actor)
                    .await?;
            }
            logins.push(DemoLogin {
                login,
                password,
                role: *role,
                administration: spec.code.into(),
                entity: entity.code.clone(),
            });
        }
        self.demo_letters(&tenant, &entities).await?;
        self.demo_folders(&tenant).await?;
        Ok(logins)
    }

    async fn demo_letters(&self, tenant: &Tenant, entities: &[Entity]) -> Result<(), AppError> {
        let actor = Actor::system("demo");
        let registers = tenant.registers().await?;
        let offices: Vec<&Entity> = entities
            .iter()
            .filter(|e| e.kind == EntityKind::RegistryOffice)
            .collect();
        let today = self.today();
        for (i, (subject, sender, kind, id_number)) in LETTERS.iter().enumerate() {
            let office = offices[i % offices.len()];
            let Some(register) = registers
                .iter()
                .find(|r| r.entity_id == office.id && r.direction == Direction::Incoming)
            else {
                continue;
            };
            let pdf = simple_pdf(&[
                subject,
                &format!("Expéditeur : {sender}"),
                "Courrier de démonstration — Diwan",
            ]);
            let blob = self.store.blobs().stage_bytes(&pdf).await?;
            let (procedure, rule) = if i == 2 {
                (
                    "access_to_information",
                    diwan_core::calendar::DeadlineRule::ACCESS_TO_INFORMATION,
                )
            } else {
                ("general", diwan_core::calendar::DeadlineRule::GENERAL)
            };
            let new = NewCorrespondence {
                register: register.id,
                direction: Direction::Incoming,
                subject: (*subject).into(),
                summary: Some("Courrier reçu au guichet et numérisé.".into()),
                party: Party {
                    kind: *kind,
                    name: (*sender).into(),
                    id_number: id_number.map(String::from),
                    email: None,
                    phone: None,
                    address: None,
                },
                contact: None,
                letter_date: today.previous_day(),
                received_at: time::OffsetDateTime::now_utc(),
                external_ref: Some(format!("REF-{:04}", 100 + i)),
                channel: if i % 3 == 0 {
                    Channel::Email
                } else {
                    Channel::Counter
                },
                confidentiality: if i == 1 {
                    Confidentiality::Confidential
                } else {
                    Confidentiality::Normal
                },
                priority: if i == 3 {
                    Priority::Urgent
                } else {
                    Priority::Normal
                },
                due: Some(diwan_core::calendar::Due {
                    date: self
                        .calendar(tenant.administration_id())
                        .await?
                        .due_date(today, &rule),
                    rule,
                    procedure: Some(procedure.to_string()),
                }),
                documents: vec![NewDocument {
                    role: DocumentRole::Main,
                    file_name: FileName::parse(&format!("courrier-{}.pdf", i + 1))
                        .map_err(|e| AppError::Internal(e.to_string()))?,
                    media_type: MediaType::Pdf,
                    blob,
                }],
                portal: None,
            };
            tenant
                .register_correspondence(new, &actor, self.offset())
                .await?;
        }
        Ok(())
    }
}

/// A one-page PDF with a few lines of Latin text (Helvetica, WinAnsi), for demo documents.
pub fn simple_pdf(lines: &[&str]) -> Vec<u8> {
    fn esc(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for c in s.chars() {
            let b = match c {
                'é' => 0xE9,
                'è' => 0xE8,
                'ê' => 0xEA,
                'à' => 0xE0,
                'â' => 0xE2,
                'ç' => 0xE7,
                'ô' => 0xF4,
                'î' => 0xEE,
                'û' => 0xFB,
                'ù' => 0xF9,
                'É' => 0xC9,
                '—' => 0x97,
                '’' => 0x92,
                c if c.is_ascii() && !c.is_control() => c as u8,
                _ => b'?',
            };
            if matches!(b, b'(' | b')' | b'\\') {
                out.push(b'\\');
            }
            out.push(b);
        }
        out
    }
    let mut content = b"BT /F1 12 Tf 72 770 Td 16 TL\n".to_vec();
    for l in lines {
        content.push(b'(');
        content.extend(esc(l));
        content.extend_from_slice(b") Tj T*\n");
    }
    content.extend_from_slice(b"ET\n");
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".to_vec(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec(),
        [format!("<< /Length {} >>\nstream\n", content.len()).into_bytes(), content, b"\nendstream".to_vec()].concat(),
    ];
    let mut pdf = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend(format!("{} 0 obj\n", i + 1).into_bytes());
        pdf.extend_from_slice(o);
        pdf.extend_from_slice(b"\nendobj\n");
    }
    let xref = pdf.len();
    pdf.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).into_bytes());
    for o in offsets {
        pdf.extend(format!("{o:010} 00000 n \n").into_bytes());
    }
    pdf.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .into_bytes(),
    );
    pdf
}
