//! Space leases on PostgreSQL: two stores on one database as two nodes, with
//! leases short enough (300 ms) to expire within a test.

use super::*;
use std::time::Duration;

const TTL: Duration = Duration::from_millis(300);

/// Sleeps past a lease's expiry.
async fn past_the_ttl() {
    tokio::time::sleep(TTL + Duration::from_millis(150)).await;
}

/// Two nodes, `node-a` and `node-b`, on one fresh database.
async fn two_nodes() -> (Postgres, PostgresStore, PostgresStore) {
    let backend = Postgres::fresh().await;
    let node = |name: &str| LeaseConfig {
        node: name.parse().unwrap(),
        ttl: TTL,
    };
    let a = backend.connect().await.as_node(node("node-a"));
    let b = backend.connect().await.as_node(node("node-b"));
    (backend, a, b)
}

fn leases(store: &PostgresStore) -> &dyn SpaceLeases {
    store.leases().expect("PostgreSQL has leases")
}

async fn claimed_by(store: &dyn Store, key: &RegistrationKey) -> (Phase, Option<String>) {
    let registration = store.get_registration(key).await.unwrap().unwrap();
    (registration.state.phase, registration.claimed_by)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_space_runs_on_the_node_holding_its_lease_and_a_stale_commit_is_refused() {
    let (_backend, a, b) = two_nodes().await;
    let first = piece(&a, "first").await;
    let second = piece(&a, "second").await;
    a.register(&first, "rss", 1).await.unwrap();
    a.register(&second, "rss", 2).await.unwrap();
    let all = IntegrationFilter::all();

    // Node A claims the space's oldest due piece, and with it the space.
    let on_a = a.claim_due(5, &all, 1).await.unwrap();
    assert_eq!(on_a.len(), 1);
    assert_eq!(on_a[0].key, first);
    let a_token = on_a[0].lease.expect("a claim on PostgreSQL holds a lease");
    assert_eq!(
        claimed_by(&a, &first).await,
        (Phase::Dispatched, Some("node-a".into()))
    );
    // Node B gets nothing of that space while A's lease is live, not even
    // its other due piece.
    assert!(b.claim_due(5, &all, 10).await.unwrap().is_empty());
    assert!(
        leases(&b)
            .heartbeat(vec![])
            .await
            .unwrap()
            .released
            .is_empty()
    );
    assert_eq!(claimed_by(&b, &second).await, (Phase::Scheduled, None));

    // A stalls past its ttl: B takes the space, and B's heartbeat puts A's
    // claim back in the schedule, so B claims it too.
    past_the_ttl().await;
    let on_b = b.claim_due(6, &all, 10).await.unwrap();
    assert_eq!(
        on_b.iter().map(|c| &c.key).collect::<Vec<_>>(),
        vec![&second]
    );
    let b_token = on_b[0].lease.unwrap();
    assert_ne!(b_token, a_token, "a space changing hands gets a new token");
    let beat = leases(&b).heartbeat(vec![SPACE.into()]).await.unwrap();
    assert_eq!(beat.released, vec![first.clone()]);
    assert!(beat.lost.is_empty());
    let again = b.claim_due(7, &all, 10).await.unwrap();
    assert_eq!(
        again.iter().map(|c| &c.key).collect::<Vec<_>>(),
        vec![&first]
    );
    assert_eq!(
        again[0].lease,
        Some(b_token),
        "B's live lease keeps its token"
    );

    // A wakes up and commits its stale run: refused, nothing applied.
    let stale = FinishedRun {
        lease: Some(a_token),
        ..finished(
            &first,
            true,
            vec![set("a", "\"stale\"")],
            Some(on_a[0].claim),
        )
    };
    let error = a.commit_run(stale, mark("stale")).await.unwrap_err();
    assert!(
        matches!(&error, StoreError::LeaseLost { space, node, .. } if space == SPACE && node == "node-a"),
        "{error}"
    );
    assert!(error.to_string().contains("not applied"), "{error}");
    assert!(
        a.recent_runs(SPACE, &first.piece_id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(a.get_cell(SPACE, "a").await.unwrap(), None);
    let registration = a.get_registration(&first).await.unwrap().unwrap();
    assert_eq!(
        (registration.state.phase, registration.claimed_by.as_deref()),
        (Phase::Dispatched, Some("node-b"))
    );
    assert_ne!(registration.state.status, "stale");

    // The same in a group commit: the stale run is refused, the others go in.
    let stale = FinishedRun {
        lease: Some(a_token),
        ..finished(
            &first,
            true,
            vec![set("a", "\"stale\"")],
            Some(on_a[0].claim),
        )
    };
    let results = a.commit_runs(vec![(stale, mark("stale"))]).await.unwrap();
    assert!(matches!(results[0], Err(StoreError::LeaseLost { .. })));

    // B's runs commit.
    let fresh = FinishedRun {
        lease: Some(b_token),
        ..finished(&first, true, vec![set("a", "\"b\"")], Some(again[0].claim))
    };
    let other = FinishedRun {
        lease: Some(b_token),
        ..finished(&second, true, vec![], Some(on_b[0].claim))
    };
    let results = b
        .commit_runs(vec![(fresh, mark("b")), (other, mark("b"))])
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        b.get_cell(SPACE, "a").await.unwrap().as_deref(),
        Some("\"b\"")
    );
    assert_eq!(
        b.recent_runs(SPACE, &first.piece_id, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(claimed_by(&b, &first).await, (Phase::Scheduled, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_a_long_runs_lease_and_give_idle_spaces_back() {
    let (_backend, a, b) = two_nodes().await;
    let key = piece(&a, "long").await;
    a.register(&key, "rss", 1).await.unwrap();
    let all = IntegrationFilter::all();
    let claimed = a.claim_due(5, &all, 10).await.unwrap();
    let token = claimed[0].lease.unwrap();

    // A "run" of four ttls, A beating every third of one.
    let started = std::time::Instant::now();
    while started.elapsed() < TTL * 4 {
        tokio::time::sleep(TTL / 3).await;
        let beat = leases(&a).heartbeat(vec![SPACE.into()]).await.unwrap();
        assert_eq!((beat.renewed, beat.lost.len()), (1, 0));
        assert!(
            leases(&b)
                .heartbeat(vec![])
                .await
                .unwrap()
                .released
                .is_empty()
        );
        assert!(matches!(
            leases(&b).acquire_space(SPACE).await.unwrap(),
            SpaceLease::Busy { ref node, .. } if node == "node-a"
        ));
    }
    let nodes = leases(&a).nodes(Duration::from_secs(60)).await.unwrap();
    let held: Vec<(&str, u64, u64)> = nodes
        .iter()
        .map(|n| (n.node.as_str(), n.dispatched, n.leases))
        .collect();
    assert_eq!(held, vec![("node-a", 1, 1), ("node-b", 0, 0)]);
    assert!(
        nodes.iter().all(|n| n.heartbeat_age_ms < 1_000),
        "{nodes:?}"
    );
    let committed = a
        .commit_run(
            FinishedRun {
                lease: Some(token),
                ..finished(&key, true, vec![set("n", "1")], Some(claimed[0].claim))
            },
            mark("done"),
        )
        .await
        .unwrap();
    assert!(committed.cells_applied);

    // The space is idle on A now: a heartbeat more than one period after
    // the last renewal gives its lease back, and B may take it at once.
    tokio::time::sleep(TTL / 3 + Duration::from_millis(30)).await;
    let beat = leases(&a).heartbeat(vec![]).await.unwrap();
    assert_eq!(beat.renewed, 0);
    assert!(matches!(
        leases(&b).acquire_space(SPACE).await.unwrap(),
        SpaceLease::Held(new) if new != token
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_runs_lease_waits_for_another_nodes_live_lease() {
    let (_backend, a, b) = two_nodes().await;
    let key = piece(&a, "p").await;
    a.register(&key, "rss", 1).await.unwrap();
    let claimed = a.claim_due(5, &IntegrationFilter::all(), 10).await.unwrap();
    let token = claimed[0].lease.unwrap();

    // A's own space goes straight in, under the claim's token.
    assert_eq!(
        leases(&a).acquire_space(SPACE).await.unwrap(),
        SpaceLease::Held(token)
    );
    let SpaceLease::Busy { node, expires_in } = leases(&b).acquire_space(SPACE).await.unwrap()
    else {
        panic!("B took a space A's live lease holds");
    };
    assert_eq!(node, "node-a");
    assert!(expires_in <= TTL, "{expires_in:?}");
    // Once it expired, B takes it under a new token, and A's claim is stale.
    past_the_ttl().await;
    let SpaceLease::Held(taken) = leases(&b).acquire_space(SPACE).await.unwrap() else {
        panic!("B could not take an expired lease");
    };
    assert_ne!(taken, token);
    assert_eq!(
        leases(&b)
            .heartbeat(vec![SPACE.into()])
            .await
            .unwrap()
            .released,
        vec![key]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_releases_only_its_own_and_dead_nodes_claims() {
    let (backend, a, b) = two_nodes().await;
    let on_a = piece(&a, "on a").await;
    let other_space = "did:key:z6MkSpaceB";
    let on_b = RegistrationKey::new(
        other_space,
        a.add_piece(other_space, None, "on b".into(), 1)
            .await
            .unwrap()
            .info
            .id,
    );
    a.register(&on_a, "rss", 1).await.unwrap();
    a.register(&on_b, "rss", 1).await.unwrap();
    let all = IntegrationFilter::all();
    // B's claim first, one at a time, so each node gets one space.
    let b_claim = b.claim_due(5, &all, 1).await.unwrap();
    let a_claim = a.claim_due(5, &all, 1).await.unwrap();
    assert_eq!(b_claim.len() + a_claim.len(), 2);
    let a_key = a_claim[0].key.clone();
    let b_key = b_claim[0].key.clone();

    // Node A restarts (same node id): its old claim is released, B's kept.
    let restarted = backend
        .connect()
        .await
        .as_node(leases(&a).lease_config().clone());
    let overdue = restarted.recover_after_restart(1_000, &all).await.unwrap();
    assert_eq!(overdue, vec![a_key.clone()]);
    assert_eq!(
        claimed_by(&restarted, &a_key).await,
        (Phase::Scheduled, None)
    );
    assert_eq!(
        claimed_by(&restarted, &b_key).await,
        (Phase::Dispatched, Some("node-b".into()))
    );

    // Node B stops (its runs done): it gives its leases back at once, and
    // any node's heartbeat puts what it still held back in the schedule.
    leases(&b).leave().await.unwrap();
    let beat = leases(&restarted).heartbeat(vec![]).await.unwrap();
    assert_eq!(beat.released, vec![b_key.clone()]);
    assert_eq!(
        claimed_by(&restarted, &b_key).await,
        (Phase::Scheduled, None)
    );
}
