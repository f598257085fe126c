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
    Act, DocumentChange, DocumentRole, FolderQueue, NewDelegation, NewFolder, NewFolderDocument,
    SignedVersion,
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
                        tag: None,
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

fn doc(role: DocumentRole, name: &str, blob: diwan_store::StagedBlob) -> NewFolderDocument {
    NewFolderDocument {
        role,
        file_name: name.into(),
        media_type: if role == DocumentRole::Main {
            MediaType::Pdf
        } else {
            MediaType::Png
        },
        blob,
    }
}

/// The author changes the documents of a draft and of a rejected folder, in the folder's
/// transaction: nobody else, never while the folder is in its circuit, never without a document
/// to sign when it is sent; each change is in the history, every version stays referenced.
#[tokio::test]
async fn documents_change_while_the_folder_is_editable() {
    for t in stores().await {
        let o = org(&t.store, "MDOCS").await;
        let tenant = &o.tenant;
        let author = user(tenant, "author").await;
        let signer = user(tenant, "signer").await;
        let stage = |s: &'static [u8]| {
            let store = t.store.clone();
            async move { store.blobs().stage_bytes(s).await.unwrap() }
        };
        let f = tenant
            .create_folder(
                NewFolder {
                    title: "Arrêté".into(),
                    document_type: "decision".into(),
                    author,
                    entity: o.root.id,
                    level: SignatureLevel::BT,
                    documents: vec![doc(DocumentRole::Main, "a.pdf", stage(b"%PDF a").await)],
                    circuit: Some(
                        [StepKind::Signature, StepKind::Visa]
                            .map(|kind| StepSpec {
                                kind,
                                assignee: Assignee::User { user: signer },
                                quorum: Quorum::All,
                                tag: None,
                            })
                            .to_vec(),
                    ),
                },
                &actor(),
            )
            .await
            .unwrap();
        let change = |who: UserId, c: DocumentChange| {
            let tenant = tenant.clone();
            async move { tenant.change_folder_documents(f.id, who, c, &actor()).await }
        };
        let start = || {
            let tenant = tenant.clone();
            async move {
                tenant
                    .start_folder(
                        f.id,
                        author,
                        &[(vec![signer], 1), (vec![signer], 1)],
                        &actor(),
                    )
                    .await
            }
        };
        let first = tenant.folder_detail(f.id).await.unwrap().documents[0]
            .id
            .clone();
        // Only the author.
        let e = change(
            signer,
            DocumentChange::Add(vec![doc(
                DocumentRole::Main,
                "x.pdf",
                stage(b"%PDF x").await,
            )]),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, StoreError::Forbidden(_)), "{}: {e}", t.name);
        // Add a document to sign and an annex: after the existing one.
        let added = change(
            author,
            DocumentChange::Add(vec![
                doc(DocumentRole::Main, "b.pdf", stage(b"%PDF b").await),
                doc(DocumentRole::Annex, "plan.png", stage(b"PNG plan").await),
            ]),
        )
        .await
        .unwrap();
        assert_eq!(added.len(), 2);
        let d = tenant.folder_detail(f.id).await.unwrap();
        let names: Vec<&str> = d.documents.iter().map(|x| x.file_name.as_str()).collect();
        assert_eq!(names, ["a.pdf", "b.pdf", "plan.png"], "{}", t.name);
        assert_eq!(d.documents[2].role, DocumentRole::Annex);
        // Replace b by a new file: its next version, which is also its original now.
        let c = stage(b"%PDF b2").await;
        let b2 = c.hash().to_hex();
        let b1 = d.documents[1].current_sha256.clone();
        change(
            author,
            DocumentChange::Replace {
                document_id: added[0].clone(),
                file: doc(DocumentRole::Main, "b-v2.pdf", c),
            },
        )
        .await
        .unwrap();
        // A document keeps its role.
        let e = change(
            author,
            DocumentChange::Replace {
                document_id: added[1].clone(),
                file: doc(DocumentRole::Main, "p.pdf", stage(b"%PDF p").await),
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(e, StoreError::Invalid(_)), "{e}");
        // Remove the first document and the annex; an unknown document is not found.
        for id in [first.clone(), added[1].clone()] {
            change(author, DocumentChange::Remove { document_id: id })
                .await
                .unwrap();
        }
        let e = change(
            author,
            DocumentChange::Remove {
                document_id: first.clone(),
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(e, StoreError::NotFound("document")), "{e}");
        let d = tenant.folder_detail(f.id).await.unwrap();
        assert_eq!(d.documents.len(), 1, "{}", t.name);
        let b = &d.documents[0];
        assert_eq!(
            (b.file_name.as_str(), b.version, b.original_sha256.as_str()),
            ("b-v2.pdf", 2, b2.as_str())
        );
        assert_eq!(b.current_sha256, b2);
        let history: Vec<ActionKind> = d.actions.iter().map(|a| a.action).collect();
        assert_eq!(
            history,
            [
                ActionKind::Create,
                ActionKind::AddDocument,
                ActionKind::AddDocument,
                ActionKind::ReplaceDocument,
                ActionKind::RemoveDocument,
                ActionKind::RemoveDocument,
            ]
        );
        let replaced = &d.actions[3];
        assert_eq!(replaced.hash_before.as_deref(), Some(b1.as_str()));
        assert_eq!(replaced.hash_after.as_deref(), Some(b2.as_str()));
        // Both versions of b stay referenced.
        let referenced = t.store.referenced_blobs().await.unwrap();
        assert!(referenced.contains(&b1) && referenced.contains(&b2));

        // Without a document to sign, the folder is not sent.
        change(
            author,
            DocumentChange::Remove {
                document_id: b.id.clone(),
            },
        )
        .await
        .unwrap();
        let e = start().await.unwrap_err();
        assert!(matches!(e, StoreError::Invalid(_)), "{e}");
        assert_eq!(
            tenant.folder(f.id).await.unwrap().status,
            FolderStatus::Draft
        );
        let c = change(
            author,
            DocumentChange::Add(vec![doc(
                DocumentRole::Main,
                "c.pdf",
                stage(b"%PDF c").await,
            )]),
        )
        .await
        .unwrap()
        .remove(0);
        // Replaced before it is sent: the new file is what the signatures start from.
        let c2 = stage(b"%PDF c, second").await;
        let c2_hash = c2.hash().to_hex();
        change(
            author,
            DocumentChange::Replace {
                document_id: c.clone(),
                file: doc(DocumentRole::Main, "c2.pdf", c2),
            },
        )
        .await
        .unwrap();
        start().await.unwrap();
        // In the circuit: no change, nothing written.
        let before = tenant.folder_detail(f.id).await.unwrap();
        let e = change(
            author,
            DocumentChange::Add(vec![doc(
                DocumentRole::Annex,
                "y.png",
                stage(b"PNG y").await,
            )]),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{e}");
        let after = tenant.folder_detail(f.id).await.unwrap();
        assert_eq!(before.documents.len(), after.documents.len());
        assert_eq!(before.actions.len(), after.actions.len());
        // Signed at the first step, rejected at the second: back with its author, who may
        // change the documents again.
        tenant
            .act(
                f.id,
                sign(signer, &c, &c2_hash, stage(b"%PDF c, second, signed").await),
                &actor(),
            )
            .await
            .unwrap();
        let reject = |comment: &str| Act {
            user: signer,
            on_behalf_of: None,
            action: ActionKind::Reject,
            comment: Some(comment.into()),
            target_user: None,
            signed: vec![],
            signer: None,
        };
        tenant
            .act(f.id, reject("Il manque l'annexe."), &actor())
            .await
            .unwrap();
        change(
            author,
            DocumentChange::Add(vec![doc(
                DocumentRole::Annex,
                "annexe.png",
                stage(b"PNG z").await,
            )]),
        )
        .await
        .unwrap();
        assert_eq!(
            tenant.folder_detail(f.id).await.unwrap().documents.len(),
            2,
            "{}",
            t.name
        );
        // Sent again: the document starts again from its replacement, not from its first file.
        start().await.unwrap();
        let d = tenant.folder_detail(f.id).await.unwrap();
        let cd = d.documents.iter().find(|x| x.id == c).unwrap();
        assert_eq!(cd.current_sha256, c2_hash);
        assert_eq!(cd.size, b"%PDF c, second".len() as i64, "{}", t.name);

        // Rejected again, then the author replaces c by another document: the version of c
        // signed in the first round stays with the folder (its blob referenced), c is gone
        // from the documents, and the folder can be sent with the new one.
        tenant
            .act(f.id, reject("Autre version, s'il vous plaît."), &actor())
            .await
            .unwrap();
        let signed_in_round_one = diwan_store::BlobHash::of(b"%PDF c, second, signed").to_hex();
        change(
            author,
            DocumentChange::Add(vec![doc(
                DocumentRole::Main,
                "d.pdf",
                stage(b"%PDF d").await,
            )]),
        )
        .await
        .unwrap();
        change(
            author,
            DocumentChange::Remove {
                document_id: c.clone(),
            },
        )
        .await
        .unwrap();
        let d = tenant.folder_detail(f.id).await.unwrap();
        let names: Vec<&str> = d.documents.iter().map(|x| x.file_name.as_str()).collect();
        assert_eq!(names, ["annexe.png", "d.pdf"], "{}", t.name);
        let referenced = t.store.referenced_blobs().await.unwrap();
        assert!(
            referenced.contains(&signed_in_round_one) && referenced.contains(&c2_hash),
            "{}: the versions of a removed document were dropped",
            t.name
        );
        let e = change(
            author,
            DocumentChange::Remove {
                document_id: c.clone(),
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(e, StoreError::NotFound("document")), "{e}");
        start().await.unwrap();
        assert_eq!(
            tenant.folder_detail(f.id).await.unwrap().documents.len(),
            2,
            "{}",
            t.name
        );
    }
}

fn o_day() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}
