//! Signature book storage rules, on every engine: the state checks made in the transaction of an
//! action (turn, double signing, stale document versions), visibility and queues.

mod common;
use common::*;
use diwan_core::media::MediaType;
use diwan_core::parapheur::{
    ActionKind, Assignee, FolderStatus, Quorum, SignatureLevel, StepKind, StepSpec,
};
use diwan_core::UserId;
use diwan_store::parapheur::{
    Act, DocumentRole, FolderQueue, NewDelegation, NewFolder, NewFolderDocument, SignedVersion,
};
use diwan_store::{StoreError, Tenant};

fn sign(user: UserId, doc: &str, before: &str, blob: diwan_store::StagedBlob) -> Act {
    Act {
        user,
        on_behalf_of: None,
        action: ActionKind::Sign,
        comment: None,
        target_user: None,
        signed: vec![SignedVersion {
            document_id: doc.into(),
            hash_before: before.into(),
            blob,
        }],
        signer: Some("CN=Test".into()),
    }
}

async fn user(t: &Tenant, login: &str) -> UserId {
    t.create_user(login, login, None, "not-a-hash", &actor())
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn actions_are_checked_in_their_transaction() {
    for t in stores().await {
        let o = org(&t.store, "MSIGN").await;
        let tenant = &o.tenant;
        let author = user(tenant, "author").await;
        let (a, b, c) = (
            user(tenant, "signer.a").await,
            user(tenant, "signer.b").await,
            user(tenant, "signer.c").await,
        );
        let outsider = user(tenant, "outsider").await;
        let blob = t.store.blobs().stage_bytes(b"%PDF-1.7 v1").await.unwrap();
        let f = tenant
            .create_folder(
                NewFolder {
                    title: "Décision".into(),
                    document_type: "decision".into(),
                    author,
                    entity: o.root.id,
                    level: SignatureLevel::BT,
                    documents: vec![NewFolderDocument {
                        role: DocumentRole::Main,
                        file_name: "d.pdf".into(),
                        media_type: MediaType::Pdf,
                        blob,
                    }],
                    circuit: Some(vec![StepSpec {
                        kind: StepKind::Signature,
                        assignee: Assignee::Group {
                            users: vec![a, b, c],
                        },
                        quorum: Quorum::NOf(2),
                    }]),
                },
                &actor(),
            )
            .await
            .unwrap();
        assert_eq!(f.status, FolderStatus::Draft);
        let d = tenant.folder_detail(f.id).await.unwrap();
        let doc = d.documents[0].id.clone();
        let v1 = d.documents[0].current_sha256.clone();
        // Nobody acts on a draft; only the author sends it.
        let stage = |s: &'static [u8]| {
            let store = t.store.clone();
            async move { store.blobs().stage_bytes(s).await.unwrap() }
        };
        let e = tenant
            .act(f.id, sign(a, &doc, &v1, stage(b"%PDF x").await), &actor())
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{}: {e}", t.name);
        assert!(matches!(
            tenant
                .start_folder(f.id, a, &[(vec![a, b, c], 2)], &actor())
                .await,
            Err(StoreError::Forbidden(_))
        ));
        tenant
            .start_folder(f.id, author, &[(vec![a, b, c], 2)], &actor())
            .await
            .unwrap();
        assert!(tenant.folder_visible_to(f.id, c, o_day()).await.unwrap());
        assert!(!tenant
            .folder_visible_to(f.id, outsider, o_day())
            .await
            .unwrap());
        let to_act = tenant
            .folders(c, FolderQueue::ToAct, o_day(), 50)
            .await
            .unwrap();
        assert_eq!(to_act.len(), 1, "{}", t.name);

        // a signs version 1.
        let blob_a = stage(b"%PDF-1.7 v1 + a").await;
        let v2 = blob_a.hash().to_hex();
        let r = tenant
            .act(f.id, sign(a, &doc, &v1, blob_a), &actor())
            .await
            .unwrap();
        assert_eq!(r.status, FolderStatus::InCircuit);
        // a again: refused.
        let e = tenant
            .act(
                f.id,
                sign(a, &doc, &v2, stage(b"%PDF again").await),
                &actor(),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{e}");
        // b signed the old version at the same time: refused, nothing written.
        let e = tenant
            .act(
                f.id,
                sign(b, &doc, &v1, stage(b"%PDF-1.7 v1 + b").await),
                &actor(),
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("changed since"), "{e}");
        let d = tenant.folder_detail(f.id).await.unwrap();
        assert_eq!(d.documents[0].current_sha256, v2);
        assert_eq!(d.documents[0].version, 2);
        assert!(d.steps[0]
            .actors
            .iter()
            .any(|x| x.user_id == b && x.state == "pending"));
        // A delegate of c sees the folder and has it to act on.
        tenant
            .create_delegation(
                &NewDelegation {
                    delegator: c,
                    delegate: outsider,
                    starts_on: o_day(),
                    ends_on: o_day(),
                    document_type: Some("decision".into()),
                },
                &actor(),
            )
            .await
            .unwrap();
        assert!(tenant
            .folder_visible_to(f.id, outsider, o_day())
            .await
            .unwrap());
        assert_eq!(
            tenant
                .delegators_of(outsider, o_day(), "decision")
                .await
                .unwrap(),
            vec![c]
        );
        assert!(tenant
            .delegators_of(outsider, o_day(), "letter")
            .await
            .unwrap()
            .is_empty());
        // b signs on top of a: the quorum (2 of 3) is met, the folder completes.
        let r = tenant
            .act(
                f.id,
                sign(b, &doc, &v2, stage(b"%PDF-1.7 v1 + a + b").await),
                &actor(),
            )
            .await
            .unwrap();
        assert!(r.completed);
        assert_eq!(r.status, FolderStatus::Completed);
        // c comes too late.
        let e = tenant
            .act(
                f.id,
                sign(c, &doc, &v2, stage(b"%PDF late").await),
                &actor(),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)));
        let d = tenant.folder_detail(f.id).await.unwrap();
        assert_eq!(d.documents[0].version, 3);
        assert!(d.steps[0]
            .actors
            .iter()
            .any(|x| x.user_id == c && x.state == "skipped"));
        assert_eq!(
            d.actions
                .iter()
                .filter(|x| x.action == ActionKind::Sign)
                .count(),
            2
        );
        // Queues.
        let n = |q: FolderQueue, u: UserId| {
            let tenant = tenant.clone();
            async move { tenant.folders(u, q, o_day(), 50).await.unwrap().len() }
        };
        assert_eq!(n(FolderQueue::Mine, author).await, 1);
        assert_eq!(n(FolderQueue::Done, a).await, 1);
        assert_eq!(n(FolderQueue::Done, c).await, 0);
        assert_eq!(n(FolderQueue::ToAct, c).await, 0);
        assert_eq!(n(FolderQueue::Visible { everything: false }, c).await, 1);
        assert_eq!(
            n(FolderQueue::Visible { everything: true }, UserId::new()).await,
            1
        );
        // Every version is referenced (fsck, garbage collection keep them).
        let referenced = t.store.referenced_blobs().await.unwrap();
        assert!(referenced.contains(&v1) && referenced.contains(&v2));
        // The four refused signatures left orphan blobs behind; they are collected.
        assert_eq!(t.store.collect_garbage().await.unwrap(), 4, "{}", t.name);
    }
}

fn o_day() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}
