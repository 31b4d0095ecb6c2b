//! SWIM from this peer's side: driving the prober (direct probes, indirect ones through
//! helpers, a failed probe excused while this process lags), and answering the probes,
//! indirect probes and zones' pulls other peers ask of it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::request_response::ResponseChannel;
use tokio::task::JoinSet;

use super::{Controller, PROBE_MAX_EXCUSED, ProbeReply, spawn_job};
use crate::net::wire::{SwimRequest, SwimResponse};
use crate::swim::ProbeAction;

impl Controller {
    /// Drive the SWIM prober and carry out what it asks.
    pub(super) fn probe(&mut self, jobs: &mut JoinSet<()>) {
        let now = Instant::now();
        let targets = self.shared.members.lock().probe_targets(now);
        let actions = self.prober.tick(now, &targets);
        let wait = self.cfg.probe.interval * (self.prober.local_health() + 1);
        for a in actions {
            let (net, tx) = (self.shared.net.clone(), self.probe_tx.clone());
            match a {
                ProbeAction::Ping { target, seq } => {
                    let Ok(peer) = target.parse::<PeerId>() else {
                        continue;
                    };
                    crate::metrics::metrics().membership_messages.inc();
                    spawn_job(jobs, async move {
                        let r = tokio::time::timeout(wait, net.swim(peer, SwimRequest::Ping)).await;
                        if let Ok(Ok(SwimResponse::Ack)) = r {
                            let _ = tx.send(ProbeReply::Ack { target, seq }).await;
                        }
                    });
                }
                ProbeAction::PingReq {
                    via,
                    target,
                    seq,
                    timeout,
                } => {
                    let Ok(via) = via.parse::<PeerId>() else {
                        continue;
                    };
                    crate::metrics::metrics().membership_messages.inc();
                    let req = SwimRequest::PingReq {
                        target: target.clone(),
                        timeout_ms: timeout.as_millis() as u64,
                    };
                    spawn_job(jobs, async move {
                        match tokio::time::timeout(wait, net.swim(via, req)).await {
                            Ok(Ok(SwimResponse::Ack)) => {
                                let _ = tx.send(ProbeReply::Ack { target, seq }).await;
                            }
                            Ok(Ok(SwimResponse::Nack)) => {
                                let _ = tx.send(ProbeReply::Nack { seq }).await;
                            }
                            _ => {}
                        }
                    });
                }
                ProbeAction::Failed { target } => {
                    // A probe that failed while this process was behind (its network task's
                    // timer fired late) says more about us than about the member: probed
                    // again at once, and counted against our own health (Lifeguard), up to
                    // PROBE_MAX_EXCUSED times in a row, as ping failures are (issue 17's WAN
                    // bed: on a starved host the two members of a zone called each other
                    // down, and every other zone took their word).
                    if self.probe_excused.len() > 4096 {
                        self.probe_excused.clear();
                    }
                    // The failed probe and its repeat ran within the last three (stretched)
                    // probe periods.
                    let window = self.cfg.probe.interval * (self.prober.local_health() + 1) * 3;
                    let excused = self.probe_excused.entry(target.clone()).or_default();
                    if *excused < PROBE_MAX_EXCUSED
                        && self
                            .shared
                            .net
                            .late_since(now.checked_sub(window).unwrap_or(now))
                    {
                        *excused += 1;
                        tracing::debug!(peer = %target, "probe failed while this process lagged: excused");
                        self.prober.on_lag();
                        self.prober.probe_soon(&target);
                        continue;
                    }
                    self.probe_excused.remove(&target);
                    tracing::debug!(peer = %target, "probe failed");
                    let evs = self.shared.members.lock().on_probe_failed(&target, now);
                    self.after_events(&evs, jobs);
                }
            }
        }
    }

    /// Answer a SWIM request: a ping at once, an indirect probe after probing its target,
    /// a zones' pull from this peer's view.
    pub(super) fn answer_swim(
        &mut self,
        peer: PeerId,
        request: SwimRequest,
        channel: ResponseChannel<SwimResponse>,
        jobs: &mut JoinSet<()>,
    ) {
        crate::metrics::metrics().membership_messages.inc();
        let net = self.shared.net.clone();
        // Built here, under the table's lock, not in the job.
        let zones = match &request {
            SwimRequest::Zones => Some(self.zones_answer(&BTreeMap::new())),
            SwimRequest::ZonesSince { held } => Some(self.zones_answer(held)),
            SwimRequest::Ping | SwimRequest::PingReq { .. } => None,
        };
        spawn_job(jobs, async move {
            let response = match request {
                SwimRequest::Ping => SwimResponse::Ack,
                SwimRequest::Zones | SwimRequest::ZonesSince { .. } => {
                    zones.unwrap_or(SwimResponse::Zones(Vec::new()))
                }
                SwimRequest::PingReq { target, timeout_ms } => match target.parse::<PeerId>() {
                    Ok(t) => {
                        let wait = Duration::from_millis(timeout_ms.min(60_000));
                        match tokio::time::timeout(wait, net.swim(t, SwimRequest::Ping)).await {
                            Ok(Ok(SwimResponse::Ack)) => SwimResponse::Ack,
                            _ => SwimResponse::Nack,
                        }
                    }
                    Err(_) => SwimResponse::Nack,
                },
            };
            tracing::trace!(%peer, ?response, "indirect probe answered");
            let _ = net.respond_swim(channel, response).await;
        });
    }
}
