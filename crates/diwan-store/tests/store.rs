//! Store behaviour, on every engine.

mod common;
use common::*;
use diwan_core::correspondence::{Confidentiality, Status};
use diwan_core::numbering::{Direction, NumberFormat};
use diwan_core::org::{EntityKind, Level, Role};
use diwan_store::auth::{hash_password, LoginError, SessionKind};
use diwan_store::org::{Names, NewEntity};
use diwan_store::registry::{CorrespondenceFilter, ListOrder, ReadScope};
use diwan_store::StoreError;
use sqlx::Connection;

#[tokio::test]
async fn numbers_are_sequential_and_formatted() {
    for t in stores().await {
        let o = org(&t.store, "MJUST").await;
        let year = time::OffsetDateTime::now_utc().year();
        for i in 1..=5 {
            let r = o
                .tenant
                .register_correspondence(
                    new_corr(
                        &t.store,
                        &o.incoming,
                        &format!("Lettre {i}"),
                        format!("%PDF-1.4 {i}").as_bytes(),
                    )
                    .await,
                    &actor(),
                    OFFSET,
                )
                .await
                .unwrap();
            assert_eq!(r.seq, i, "{}", t.name);
            assert_eq!(r.number, format!("BO-MJUST/A/{year}/{i:06}"));
        }
        // Another register has its own sequence.
        let r = o
            .tenant
            .register_correspondence(
                new_corr(&t.store, &o.outgoing, "Réponse", b"%PDF-1.4 r").await,
                &actor(),
                OFFSET,
            )
            .await
            .unwrap();
        assert_eq!(r.number, format!("BO-MJUST/D/{year}/000001"));
        // Into a register read beforehand (the portal's way): the same sequence; a register
        // that is not the one named is refused and consumes nothing.
        let wrong = o
            .tenant
            .register_correspondence_in(
                &o.outgoing,
                new_corr(&t.store, &o.incoming, "Ailleurs", b"%PDF-1.4 w").await,
                &actor(),
                OFFSET,
            )
            .await;
        assert!(matches!(wrong, Err(StoreError::Invalid(_))), "{wrong:?}");
        let known = o
            .tenant
            .register_correspondence_in(
                &o.incoming,
                new_corr(&t.store, &o.incoming, "Lettre 6", b"%PDF-1.4 6").await,
                &actor(),
                OFFSET,
            )
            .await
            .unwrap();
        assert_eq!(known.number, format!("BO-MJUST/A/{year}/000006"));
        let c = o.tenant.correspondence(r.id).await.unwrap();
        assert_eq!(c.status, Status::Registered);
        assert_eq!(c.subject, "Réponse");
        assert_eq!(o.tenant.documents(r.id).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn concurrent_registrations_are_gapless() {
    for t in stores().await {
        let o = org(&t.store, "MINT").await;
        let mut handles = Vec::new();
        for i in 0..64 {
            let tenant = o.tenant.clone();
            let store = t.store.clone();
            let reg = o.incoming.clone();
            handles.push(tokio::spawn(async move {
                let n = new_corr(
                    &store,
                    &reg,
                    &format!("Concurrent {i}"),
                    format!("%PDF-1.4 c{i}").as_bytes(),
                )
                .await;
                tenant
                    .register_correspondence(n, &actor(), OFFSET)
                    .await
                    .unwrap()
                    .seq
            }));
        }
        let mut seqs = Vec::new();
        for h in handles {
            seqs.push(h.await.unwrap());
        }
        seqs.sort();
        assert_eq!(seqs, (1..=64).collect::<Vec<_>>(), "{}", t.name);
        let report = t.store.fsck(&|_, _| {}).await.unwrap();
        assert!(report.is_sound(), "{}: {:?}", t.name, report.damage);
        assert_eq!(report.correspondences, 64);
    }
}

#[tokio::test]
async fn failed_registration_consumes_nothing() {
    for t in stores().await {
        let a = org(&t.store, "MSANTE").await;
        let b = org(&t.store, "COMMUNE").await;
        // A's tenant cannot use B's register.
        let n = new_corr(&t.store, &b.incoming, "Intrus", b"%PDF-1.4 intrus").await;
        let hash = n.documents[0].blob.hash();
        let err = a
            .tenant
            .register_correspondence(n, &actor(), OFFSET)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound("register")), "{err}");
        // Wrong direction.
        let mut n = new_corr(&t.store, &a.incoming, "Sens", b"%PDF-1.4 sens").await;
        n.direction = Direction::Outgoing;
        assert!(matches!(
            a.tenant.register_correspondence(n, &actor(), OFFSET).await,
            Err(StoreError::Invalid(_))
        ));
        // Empty subject.
        let n = new_corr(&t.store, &a.incoming, "  ", b"%PDF-1.4 vide").await;
        assert!(matches!(
            a.tenant.register_correspondence(n, &actor(), OFFSET).await,
            Err(StoreError::Invalid(_))
        ));
        // Nothing was written: no blob, no number.
        assert!(!t.store.blobs().exists(&hash).await.unwrap());
        assert!(t.store.blobs().list().await.unwrap().is_empty());
        assert_eq!(
            std::fs::read_dir(t.dir.path().join("blobs/staging"))
                .unwrap()
                .count(),
            0
        );
        let r = a
            .tenant
            .register_correspondence(
                new_corr(&t.store, &a.incoming, "Première", b"%PDF-1.4 ok").await,
                &actor(),
                OFFSET,
            )
            .await
            .unwrap();
        assert_eq!(r.seq, 1, "{}", t.name);
        let r = b
            .tenant
            .register_correspondence(
                new_corr(&t.store, &b.incoming, "Première", b"%PDF-1.4 ok").await,
                &actor(),
                OFFSET,
            )
            .await
            .unwrap();
        assert_eq!(r.seq, 1, "{}", t.name);
        // Identical content is stored once.
        assert_eq!(t.store.blobs().list().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn tenants_are_isolated() {
    for t in stores().await {
        let a = org(&t.store, "ADMA").await;
        let b = org(&t.store, "ADMB").await;
        let r = b
            .tenant
            .register_correspondence(
                new_corr(&t.store, &b.incoming, "Secret de B", b"%PDF b").await,
                &actor(),
                OFFSET,
            )
            .await
            .unwrap();
        assert!(matches!(
            a.tenant.correspondence(r.id).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(a.tenant.documents(r.id).await.unwrap().is_empty());
        assert!(matches!(
            a.tenant.entity(b.root.id).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            a.tenant.register(b.incoming.id).await,
            Err(StoreError::NotFound(_))
        ));
        let all = ReadScope {
            all: true,
            confidential: true,
            ..Default::default()
        };
        let page = a
            .tenant
            .correspondences(
                &all,
                &CorrespondenceFilter {
                    limit: 50,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.total, 0);
        // An entity cannot hang under another administration's entity.
        let err = a
            .tenant
            .create_entity(
                NewEntity {
                    parent: Some(b.root.id),
                    code: "X-1".into(),
                    kind: EntityKind::Service,
                    level: Level::Regional,
                    names: Names::new("X", "س", None).unwrap(),
                },
                &actor(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound("entity")), "{err}");
        // Memberships cannot cross tenants either.
        let u = a
            .tenant
            .create_user(
                "agent.a",
                "Agent A",
                None,
                &hash_password("password-a").unwrap(),
                &actor(),
            )
            .await
            .unwrap();
        assert!(a
            .tenant
            .add_membership(u.id, b.root.id, Role::Agent, &actor())
            .await
            .is_err());
    }
}

#[tokio::test]
async fn register_view_filters_and_scopes() {
    for t in stores().await {
        let o = org(&t.store, "MFIN").await;
        let clerk = o
            .tenant
            .create_user(
                "clerk.mfin",
                "Clerk",
                None,
                &hash_password("password-1").unwrap(),
                &actor(),
            )
            .await
            .unwrap();
        let clerk_actor = diwan_store::Actor::user(clerk.id, None);
        for i in 0..12 {
            let mut n = new_corr(
                &t.store,
                &o.incoming,
                &format!("Demande numéro {i}"),
                format!("%PDF {i}").as_bytes(),
            )
            .await;
            if i == 3 {
                n.confidentiality = Confidentiality::Confidential;
            }
            let by = if i < 6 { &clerk_actor } else { &actor() };
            o.tenant
                .register_correspondence(n, by, OFFSET)
                .await
                .unwrap();
        }
        let all = ReadScope {
            all: true,
            confidential: true,
            ..Default::default()
        };
        let f = |text: Option<&str>, limit| CorrespondenceFilter {
            text: text.map(String::from),
            limit,
            ..Default::default()
        };
        let p = o.tenant.correspondences(&all, &f(None, 5)).await.unwrap();
        assert_eq!((p.total, p.items.len()), (12, 5));
        assert_eq!(p.items[0].subject, "Demande numéro 11", "newest first");
        assert_eq!(
            o.tenant
                .correspondences(&all, &f(Some("NUMÉRO 1"), 50))
                .await
                .unwrap()
                .total,
            3
        ); // 1, 10, 11
        assert_eq!(
            o.tenant
                .correspondences(&all, &f(Some("%"), 50))
                .await
                .unwrap()
                .total,
            0
        );
        // Admin without confidential access does not see the confidential one.
        let admin = ReadScope {
            all: true,
            ..Default::default()
        };
        assert_eq!(
            o.tenant
                .correspondences(&admin, &f(None, 50))
                .await
                .unwrap()
                .total,
            11
        );
        // A clerk of the register sees all normal ones and the confidential one they registered.
        let clerk_scope = ReadScope {
            registers: vec![o.incoming.id],
            user: Some(clerk.id),
            ..Default::default()
        };
        let p = o
            .tenant
            .correspondences(&clerk_scope, &f(None, 50))
            .await
            .unwrap();
        assert_eq!(p.total, 12);
        for c in &p.items {
            assert!(diwan_store::Tenant::can_read(&clerk_scope, c));
        }
        // Nobody else sees anything.
        let stranger = ReadScope {
            user: Some(diwan_core::UserId::new()),
            ..Default::default()
        };
        assert_eq!(
            o.tenant
                .correspondences(&stranger, &f(None, 50))
                .await
                .unwrap()
                .total,
            0
        );
        let year = time::OffsetDateTime::now_utc().year();
        let by_year = CorrespondenceFilter {
            year: Some(year - 1),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(
            o.tenant
                .correspondences(&all, &by_year)
                .await
                .unwrap()
                .total,
            0
        );
        let by_status = CorrespondenceFilter {
            status: Some(Status::Registered),
            direction: Some(Direction::Incoming),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(
            o.tenant
                .correspondences(&all, &by_status)
                .await
                .unwrap()
                .total,
            12
        );
        // An export walks the year in number order by keyset pages, without counting.
        let mut numbers = Vec::new();
        let mut after = None;
        loop {
            let page = o
                .tenant
                .correspondences(
                    &all,
                    &CorrespondenceFilter {
                        year: Some(year),
                        order: ListOrder::Number { after },
                        limit: 5,
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(page.total, page.items.len() as i64);
            numbers.extend(page.items.iter().map(|c| (c.seq, c.id)));
            after = page.items.last().map(|c| c.seq);
            if page.items.len() < 5 {
                break;
            }
        }
        let seqs: Vec<i64> = numbers.iter().map(|n| n.0).collect();
        assert_eq!(seqs, (1..=12).collect::<Vec<i64>>());
        let ids: Vec<_> = numbers.iter().map(|n| n.1).collect();
        let states = o.tenant.processing_states(&ids).await.unwrap();
        assert_eq!(states.len(), 12);
        assert!(states.values().all(|s| s.handling_entity.is_none()));
    }
}

#[tokio::test]
async fn login_sessions_and_lockout() {
    for t in stores().await {
        let o = org(&t.store, "MEDU").await;
        let u = o
            .tenant
            .create_user(
                "Chef.Service",
                "Chef",
                Some("chef@example.ma"),
                &hash_password("s3cret-pass").unwrap(),
                &actor(),
            )
            .await
            .unwrap();
        assert_eq!(u.login, "chef.service");
        o.tenant
            .add_membership(u.id, o.root.id, Role::Head, &actor())
            .await
            .unwrap();
        let s = t
            .store
            .login(
                "chef.service",
                "s3cret-pass",
                SessionKind::Api,
                Some("127.0.0.1".into()),
            )
            .await
            .unwrap();
        let session = t.store.session(&s.token).await.unwrap().unwrap();
        assert_eq!(session.user.id, u.id);
        assert_eq!(session.memberships.len(), 1);
        assert!(t.store.session("forged").await.unwrap().is_none());
        t.store.logout(&s.token).await.unwrap();
        assert!(t.store.session(&s.token).await.unwrap().is_none());
        assert!(matches!(
            t.store.login("nobody", "x", SessionKind::Web, None).await,
            Err(LoginError::BadCredentials)
        ));
        for _ in 0..4 {
            assert!(matches!(
                t.store
                    .login("chef.service", "wrong", SessionKind::Web, None)
                    .await,
                Err(LoginError::BadCredentials)
            ));
        }
        assert!(matches!(
            t.store
                .login("chef.service", "wrong", SessionKind::Web, None)
                .await,
            Err(LoginError::Locked { .. })
        ));
        // Even the right password is refused while locked.
        assert!(matches!(
            t.store
                .login("chef.service", "s3cret-pass", SessionKind::Web, None)
                .await,
            Err(LoginError::Locked { .. })
        ));
        let chain = o.tenant.verify_audit_chain().await.unwrap();
        assert!(chain.is_ok(), "{chain:?}");
        let history = o.tenant.audit_of(&u.id.to_string()).await.unwrap();
        assert!(history.iter().any(|e| e.action == "user.locked"));
    }
}

#[tokio::test]
async fn fsck_finds_damage() {
    for t in stores().await {
        let o = org(&t.store, "MAGRI").await;
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(
                o.tenant
                    .register_correspondence(
                        new_corr(
                            &t.store,
                            &o.incoming,
                            &format!("L{i}"),
                            format!("%PDF-1.4 doc {i}").as_bytes(),
                        )
                        .await,
                        &actor(),
                        OFFSET,
                    )
                    .await
                    .unwrap(),
            );
        }
        let sound = t.store.fsck(&|_, _| {}).await.unwrap();
        assert!(sound.is_sound());
        assert_eq!(sound.log_leaves, 3, "every registration is a log leaf");

        // A damaged blob: a small document, kept in the database.
        let docs = o.tenant.documents(ids[0].id).await.unwrap();
        let mut c = sqlx::AnyConnection::connect(&t.url).await.unwrap();
        let changed = sqlx::query("UPDATE small_blobs SET bytes = $1 WHERE sha256 = $2")
            .bind(b"%PDF-1.4 doc 9".to_vec())
            .bind(&docs[0].sha256)
            .execute(&mut c)
            .await
            .unwrap();
        assert_eq!(changed.rows_affected(), 1, "{}", t.name);
        let r = t.store.fsck(&|_, _| {}).await.unwrap();
        assert!(
            r.damage
                .iter()
                .any(|d| d.area == "blob" && d.message.contains(&docs[0].sha256)),
            "{:?}",
            r.damage
        );

        // A tampered audit entry and a hole in the register, made behind the store's back.
        if t.name == "sqlite" {
            sqlx::query("DROP TRIGGER audit_log_no_update")
                .execute(&mut c)
                .await
                .unwrap();
        } else {
            sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
                .execute(&mut c)
                .await
                .unwrap();
        }
        sqlx::query("UPDATE audit_log SET details = '{\"number\":\"forged\"}' WHERE seq = 3")
            .execute(&mut c)
            .await
            .unwrap();
        if t.name == "sqlite" {
            sqlx::query("DROP TRIGGER log_leaves_no_update")
                .execute(&mut c)
                .await
                .unwrap();
        } else {
            sqlx::query("ALTER TABLE log_leaves DISABLE TRIGGER log_leaves_no_change")
                .execute(&mut c)
                .await
                .unwrap();
        }
        sqlx::query(
            "UPDATE log_leaves SET entry = REPLACE(entry, 'MAGRI', 'FORGED') WHERE idx = 2",
        )
        .execute(&mut c)
        .await
        .unwrap();
        sqlx::query("DELETE FROM documents WHERE correspondence_id = $1")
            .bind(ids[1].id.to_string())
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query("DELETE FROM correspondences WHERE id = $1")
            .bind(ids[1].id.to_string())
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
        let r = t.store.fsck(&|_, _| {}).await.unwrap();
        assert!(
            r.damage
                .iter()
                .any(|d| d.area == "audit" && d.message.contains("entry 3")),
            "{}: {:?}",
            t.name,
            r.damage
        );
        assert!(
            r.damage
                .iter()
                .any(|d| d.area == "register" && d.message.contains("numbers 2..2 are missing")),
            "{}: {:?}",
            t.name,
            r.damage
        );
        assert!(
            r.damage
                .iter()
                .any(|d| d.area == "log" && d.message.contains("leaf 2 was altered")),
            "{:?}",
            r.damage
        );
        assert!(
            r.damage
                .iter()
                .any(|d| d.area == "log" && d.message.contains("no longer exist")),
            "{:?}",
            r.damage
        );
        // The deleted correspondence's blob is now an orphan, and garbage collection removes it.
        assert_eq!(r.orphan_blobs.len(), 1);
        assert_eq!(t.store.collect_garbage().await.unwrap(), 1);
    }
}

#[tokio::test]
async fn number_formats_and_org_rules() {
    for t in stores().await {
        let o = org(&t.store, "MTOUR").await;
        // Only registry offices have registers; one register per direction.
        assert!(o
            .tenant
            .create_register(
                o.root.id,
                Direction::Internal,
                "X",
                &NumberFormat::default(),
                &actor()
            )
            .await
            .is_err());
        assert!(matches!(
            o.tenant
                .create_register(
                    o.office.id,
                    Direction::Incoming,
                    "Bis",
                    &NumberFormat::default(),
                    &actor()
                )
                .await,
            Err(StoreError::Conflict(_))
        ));
        let internal = o
            .tenant
            .create_register(
                o.office.id,
                Direction::Internal,
                "Interne",
                &NumberFormat::parse("{ADMIN}-{YY}-{SEQ}").unwrap(),
                &actor(),
            )
            .await
            .unwrap();
        let r = o
            .tenant
            .register_correspondence(
                new_corr(&t.store, &internal, "Note", b"%PDF note").await,
                &actor(),
                OFFSET,
            )
            .await
            .unwrap();
        assert_eq!(
            r.number,
            format!(
                "MTOUR-{:02}-1",
                time::OffsetDateTime::now_utc().year() % 100
            )
        );
        assert!(matches!(
            t.store
                .create_administration(
                    "mtour",
                    diwan_core::org::AdministrationKind::Ministry,
                    Names::new("A", "ب", None).unwrap(),
                    &actor()
                )
                .await,
            Err(StoreError::Conflict(_))
        ));
        let tree = o.tenant.entities().await.unwrap();
        assert_eq!(tree.len(), 2);
        assert_eq!(tree[1].parent, Some(tree[0].id));
    }
}

#[tokio::test]
async fn a_filing_failing_half_way_leaves_nothing() {
    use diwan_store::outbox::NewMessage;
    use diwan_store::registry::PortalFiling;
    for t in stores().await {
        let o = org(&t.store, "PORTAL").await;
        let filing = |token: &str| PortalFiling {
            tracking_hash: "h".repeat(64),
            receipt_token: token.into(),
            email: Some("filer@example.ma".into()),
            phone: None,
            notification: Some(NewMessage {
                recipient: "filer@example.ma".into(),
                subject: "N° {number}".into(),
                body: "Registered as {number}".into(),
            }),
        };
        let mut n = new_corr(&t.store, &o.incoming, "Première", b"%PDF-1.4 first filing").await;
        n.portal = Some(filing("same-token"));
        let first = o
            .tenant
            .register_correspondence(n, &actor(), OFFSET)
            .await
            .unwrap();
        let log_size = t.store.log_size().await.unwrap();
        let outbox = t.store.outbox_len().await.unwrap();
        // The second filing fails on the filings row, after its number, record, log leaf and
        // e-mail were written in the transaction.
        let mut n = new_corr(
            &t.store,
            &o.incoming,
            "Seconde",
            b"%PDF-1.4 second filing, never stored",
        )
        .await;
        let hash = n.documents[0].blob.hash();
        n.portal = Some(filing("same-token"));
        assert!(
            o.tenant
                .register_correspondence(n, &actor(), OFFSET)
                .await
                .is_err(),
            "{}",
            t.name
        );
        assert_eq!(t.store.log_size().await.unwrap(), log_size, "no log leaf");
        assert_eq!(
            t.store.outbox_len().await.unwrap(),
            outbox,
            "no e-mail queued"
        );
        let all = ReadScope {
            all: true,
            confidential: true,
            ..Default::default()
        };
        let page = o
            .tenant
            .correspondences(
                &all,
                &CorrespondenceFilter {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.total, 1, "no record");
        // The document, small, was to be stored by the transaction that failed: it is not
        // stored at all. The next filing takes number 2.
        assert!(!t.store.blobs().exists(&hash).await.unwrap(), "{}", t.name);
        let mut n = new_corr(&t.store, &o.incoming, "Troisième", b"%PDF-1.4 third").await;
        n.portal = Some(filing("other-token"));
        let third = o
            .tenant
            .register_correspondence(n, &actor(), OFFSET)
            .await
            .unwrap();
        assert_eq!((first.seq, third.seq), (1, 2), "{}", t.name);
        assert_eq!(third.leaf_index, first.leaf_index + 1);
        let messages = t.store.messages_to("filer@example.ma").await.unwrap();
        assert_eq!(messages.len(), 2);
        assert!(messages[1].body.contains(&third.number));
        let report = t.store.fsck(&|_, _| {}).await.unwrap();
        assert!(report.is_sound(), "{:?}", report.damage);
        assert!(report.orphan_blobs.is_empty(), "{:?}", report.orphan_blobs);
    }
}

/// A receipt stored in two parts (the prefix every receipt shares, and its own tail, kept in
/// the filing's row or, as before, a blob) keeps them, and fsck checks that they make the
/// receipt whose hash is recorded.
#[tokio::test]
async fn receipts_stored_in_two_parts_are_kept_and_checked() {
    use diwan_store::portal::ReceiptParts;
    use diwan_store::registry::PortalFiling;
    use diwan_store::BlobHash;
    for t in stores().await {
        let o = org(&t.store, "SPLIT").await;
        let mut filings = Vec::new();
        for token in ["split-1", "split-2", "whole-3"] {
            let mut n = new_corr(&t.store, &o.incoming, token, token.as_bytes()).await;
            n.portal = Some(PortalFiling {
                tracking_hash: "h".repeat(64),
                receipt_token: token.into(),
                email: None,
                phone: Some("0600000000".into()),
                notification: None,
            });
            let r = o
                .tenant
                .register_correspondence(n, &actor(), OFFSET)
                .await
                .unwrap();
            filings.push(r.id);
        }
        // Waiting for their receipts (found through the partial index), until recorded.
        let waiting = |list: Vec<diwan_store::portal::Filing>| {
            let mut ids: Vec<_> = list.into_iter().map(|f| f.correspondence_id).collect();
            ids.sort();
            ids
        };
        let mut all = filings.clone();
        all.sort();
        assert_eq!(
            waiting(t.store.filings_without_receipt(100).await.unwrap()),
            all
        );
        let prefix = b"%PDF-1.7 the fonts every receipt shares ".repeat(100);
        let mut prefix_blob = t.store.blobs().stage_bytes(&prefix).await.unwrap();
        t.store.blobs().promote(&mut prefix_blob).await.unwrap();
        let json = BlobHash::of(b"{}").to_hex();
        let mut parts = Vec::new();
        // The first tail is a blob (as stored before), the second is kept in the row.
        for (i, id) in filings[..2].iter().enumerate() {
            let tail = format!("this receipt's own objects {i} %%EOF");
            let p = ReceiptParts {
                prefix: prefix_blob.hash().to_hex(),
                tail: BlobHash::of(tail.as_bytes()).to_hex(),
            };
            let whole = BlobHash::of(&[&prefix[..], tail.as_bytes()].concat()).to_hex();
            let kept = if i == 0 {
                let mut tail_blob = t.store.blobs().stage_bytes(tail.as_bytes()).await.unwrap();
                t.store.blobs().promote(&mut tail_blob).await.unwrap();
                None
            } else {
                // Bytes without the parts they belong to are refused.
                assert!(matches!(
                    t.store
                        .set_receipts(*id, &whole, &json, None, Some(tail.clone().into_bytes()))
                        .await,
                    Err(StoreError::Invalid(_))
                ));
                Some(tail.clone().into_bytes())
            };
            t.store
                .set_receipts(*id, &whole, &json, Some(&p), kept.clone())
                .await
                .unwrap();
            assert_eq!(
                t.store.filing_of(*id).await.unwrap().unwrap().receipt_parts,
                Some(p.clone())
            );
            assert_eq!(t.store.receipt_tail(*id).await.unwrap(), kept, "{}", t.name);
            parts.push(p);
        }
        // A receipt stored whole, as before: its hash names its blob.
        let mut whole_blob = t
            .store
            .blobs()
            .stage_bytes(b"%PDF-1.7 whole")
            .await
            .unwrap();
        t.store.blobs().promote(&mut whole_blob).await.unwrap();
        t.store
            .set_receipts(filings[2], &whole_blob.hash().to_hex(), &json, None, None)
            .await
            .unwrap();
        assert_eq!(
            t.store
                .filing_of(filings[2])
                .await
                .unwrap()
                .unwrap()
                .receipt_parts,
            None
        );

        assert!(waiting(t.store.filings_without_receipt(100).await.unwrap()).is_empty());
        let referenced = t.store.referenced_blobs().await.unwrap();
        for h in [&parts[0].prefix, &parts[0].tail] {
            assert!(referenced.contains(h), "{}", t.name);
        }
        assert!(
            !referenced.contains(&parts[1].tail),
            "kept in the row, not a blob"
        );
        assert!(referenced.contains(&whole_blob.hash().to_hex()));
        let report = t.store.fsck(&|_, _| {}).await.unwrap();
        assert!(report.is_sound(), "{}: {:?}", t.name, report.damage);
        assert!(report.orphan_blobs.is_empty(), "{:?}", report.orphan_blobs);
        assert_eq!(t.store.collect_garbage().await.unwrap(), 0);

        // A recorded hash the two parts do not make is damage, named by filing; so is a tail
        // kept in the row that no longer hashes to its name.
        let filing = filings[1].to_string();
        let mut c = sqlx::AnyConnection::connect(&t.url).await.unwrap();
        sqlx::query("UPDATE filings SET receipt_pdf = $1 WHERE correspondence_id = $2")
            .bind("0".repeat(64))
            .bind(&filing)
            .execute(&mut c)
            .await
            .unwrap();
        one_damage(&t, &[&filing, "two parts"]).await;
        sqlx::query("UPDATE filings SET receipt_tail_bytes = $1 WHERE correspondence_id = $2")
            .bind(b"tampered".to_vec())
            .bind(&filing)
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
        one_damage(&t, &[&filing, "tail kept"]).await;
    }
}

/// Runs fsck and expects exactly one damage, whose message holds every needle.
async fn one_damage(t: &TestStore, needles: &[&str]) {
    let report = t.store.fsck(&|_, _| {}).await.unwrap();
    assert_eq!(report.damage.len(), 1, "{}: {:?}", t.name, report.damage);
    assert!(
        needles.iter().all(|n| report.damage[0].message.contains(n)),
        "{needles:?}: {:?}",
        report.damage
    );
}

/// Every query word is a prefix on both engines (PostgreSQL expands it to the index's lexemes),
/// including words that reach a record after its registration (a document's text).
#[tokio::test]
async fn search_words_are_prefixes_on_every_engine() {
    for t in stores().await {
        let o = org(&t.store, "MSRCH").await;
        let mut ids = Vec::new();
        for subject in [
            "Demande de certificat administratif",
            "Certificats de résidence — Rabat",
            "Réclamation Rabat",
            "طلب رخصة",
        ] {
            let n = new_corr(&t.store, &o.incoming, subject, b"%PDF-1.7 x").await;
            let r = o
                .tenant
                .register_correspondence(n, &actor(), OFFSET)
                .await
                .unwrap();
            ids.push(r.id);
        }
        if t.name != "sqlite" {
            // Statistics for the planner, so that common words take the walking path.
            let mut c = sqlx::AnyConnection::connect(&t.url).await.unwrap();
            sqlx::query("ANALYZE correspondences")
                .execute(&mut c)
                .await
                .unwrap();
        }
        let all = ReadScope {
            all: true,
            confidential: true,
            ..Default::default()
        };
        let total = |q: &'static str| {
            let tenant = &o.tenant;
            let all = &all;
            async move {
                let f = CorrespondenceFilter {
                    query: Some(q.into()),
                    limit: 20,
                    ..Default::default()
                };
                tenant.correspondences(all, &f).await.unwrap().total
            }
        };
        assert_eq!(total("certif").await, 2, "{}", t.name);
        assert_eq!(total("certificats").await, 1, "{}", t.name);
        assert_eq!(total("CERTIF résid").await, 1, "{}", t.name);
        assert_eq!(total("rab").await, 2, "{}", t.name);
        assert_eq!(total("reclam rab").await, 1, "{}", t.name);
        assert_eq!(total("رخص").await, 1, "{}", t.name);
        assert_eq!(total("certifx").await, 0, "{}", t.name);
        assert_eq!(total("certif zzz").await, 0, "{}", t.name);
        // A word that arrives later with the document's text.
        assert_eq!(total("attestation").await, 0, "{}", t.name);
        let pending = t.store.documents_without_text(10).await.unwrap();
        // The document of "Réclamation Rabat".
        let d = pending
            .iter()
            .find(|d| d.correspondence_id == ids[2])
            .unwrap();
        t.store
            .record_document_text(
                d,
                diwan_store::doctext::TextState::Text,
                "attestations scolaires",
            )
            .await
            .unwrap();
        assert_eq!(total("attestation").await, 1, "{}", t.name);
        assert_eq!(
            total("scol certif").await + total("scol rab").await,
            1,
            "{}",
            t.name
        );
    }
}

/// A registration's small documents are rows written by its transaction; larger ones are files.
/// Both read back alike, fsck checks both, and garbage collection removes a row only once no
/// record references it.
#[tokio::test]
async fn small_documents_are_kept_in_the_database() {
    use diwan_store::small_blobs::SMALL_BLOB_LIMIT;
    use diwan_store::BlobHash;
    use tokio::io::AsyncReadExt;
    for t in stores().await {
        let o = org(&t.store, "MJUST").await;
        let small = vec![b's'; 10_240];
        let large = vec![b'l'; SMALL_BLOB_LIMIT as usize + 1];
        let mut ids = Vec::new();
        for (subject, content) in [("Petit", &small), ("Grand", &large), ("Copie", &small)] {
            let n = new_corr(&t.store, &o.incoming, subject, content).await;
            ids.push(
                o.tenant
                    .register_correspondence(n, &actor(), OFFSET)
                    .await
                    .unwrap()
                    .id,
            );
        }
        let (small_hash, large_hash) = (BlobHash::of(&small), BlobHash::of(&large));
        let file_of = |h: &BlobHash| {
            let h = h.to_hex();
            t.dir.path().join("blobs/sha256").join(&h[0..2]).join(h)
        };
        let mut c = sqlx::AnyConnection::connect(&t.url).await.unwrap();
        let rows = |h: BlobHash| {
            sqlx::query("SELECT COUNT(*) FROM small_blobs WHERE sha256 = $1").bind(h.to_hex())
        };
        let count = |r: sqlx::any::AnyRow| sqlx::Row::get::<i64, _>(&r, 0);
        // The small document: one row for its two records, no file.
        assert_eq!(count(rows(small_hash).fetch_one(&mut c).await.unwrap()), 1);
        assert!(!file_of(&small_hash).exists(), "{}", t.name);
        // The large one: a file, no row.
        assert_eq!(count(rows(large_hash).fetch_one(&mut c).await.unwrap()), 0);
        assert!(file_of(&large_hash).exists(), "{}", t.name);
        // Both read back whole and streamed.
        for (h, content) in [(small_hash, &small), (large_hash, &large)] {
            assert_eq!(&t.store.blobs().read(&h).await.unwrap(), content);
            let mut streamed = Vec::new();
            let mut reader = t.store.blobs().open(&h).await.unwrap();
            reader.read_to_end(&mut streamed).await.unwrap();
            assert_eq!(&streamed, content);
            assert!(t.store.blobs().exists(&h).await.unwrap());
        }
        let report = t.store.fsck(&|_, _| {}).await.unwrap();
        assert!(report.is_sound(), "{}: {:?}", t.name, report.damage);
        assert_eq!(report.blobs_checked, 2);
        assert_eq!(report.bytes_checked, (small.len() + large.len()) as u64);
        assert!(report.orphan_blobs.is_empty());

        // A damaged file is still found.
        let path = file_of(&large_hash);
        std::fs::write(&path, b"tampered").unwrap();
        one_damage(&t, &[&large_hash.to_hex(), "damaged"]).await;
        std::fs::write(&path, &large).unwrap();

        // Removing a row some record references leaves it.
        t.store.blobs().remove(&small_hash).await.unwrap();
        assert_eq!(count(rows(small_hash).fetch_one(&mut c).await.unwrap()), 1);
        // Once the first record's reference is gone, the row is still the copy's.
        sqlx::query("DELETE FROM documents WHERE correspondence_id = $1")
            .bind(ids[0].to_string())
            .execute(&mut c)
            .await
            .unwrap();
        assert_eq!(t.store.collect_garbage().await.unwrap(), 0);
        // With no reference left, it is an orphan, and garbage collection removes it.
        sqlx::query("DELETE FROM documents WHERE correspondence_id = $1")
            .bind(ids[2].to_string())
            .execute(&mut c)
            .await
            .unwrap();
        let report = t.store.fsck(&|_, _| {}).await.unwrap();
        assert_eq!(report.orphan_blobs, vec![small_hash.to_hex()], "{}", t.name);
        assert_eq!(t.store.collect_garbage().await.unwrap(), 1);
        assert_eq!(count(rows(small_hash).fetch_one(&mut c).await.unwrap()), 0);
        assert!(!t.store.blobs().exists(&small_hash).await.unwrap());
        assert!(t.store.blobs().exists(&large_hash).await.unwrap());
        c.close().await.unwrap();
    }
}
