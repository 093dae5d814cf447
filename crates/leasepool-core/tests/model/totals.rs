//! The counters a simulation run keeps ([`Totals`]): how often each
//! interesting path was taken, summed over seeds by `tests/simulation.rs`.

#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub seeds: u64,
    pub events: u64,
    pub invariant_checks: u64,
    pub actions: u64,
    pub grants_direct: u64,
    pub grants_to_waiters: u64,
    pub queued: u64,
    pub cancelled: u64,
    pub waiter_timeouts: u64,
    pub waiters_failed_on_stop: u64,
    pub waiters_failed_on_create: u64,
    pub handed_back: u64,
    pub kept: u64,
    pub handed_off: u64,
    pub not_kept: u64,
    pub revoked: u64,
    pub revoked_on_submit: u64,
    pub broken: u64,
    pub create_failures: u64,
    pub creations_confirmed: u64,
    pub confirmed_after_stop: u64,
    pub max_in_flight: u64,
    pub lease_ends: u64,
    pub stale_checks: u64,
    pub start_failures: u64,
    pub shrinks: u64,
    pub idle_deadlines: u64,
    pub idle_shutdowns: u64,
    pub shed: u64,
    pub checks: u64,
    pub stops: u64,
    pub closes: u64,
    pub closes_drained: u64,
    pub quiescences: u64,
}

impl Totals {
    pub fn add(&mut self, o: &Totals) {
        self.seeds += o.seeds;
        self.events += o.events;
        self.invariant_checks += o.invariant_checks;
        self.actions += o.actions;
        self.grants_direct += o.grants_direct;
        self.grants_to_waiters += o.grants_to_waiters;
        self.queued += o.queued;
        self.cancelled += o.cancelled;
        self.waiter_timeouts += o.waiter_timeouts;
        self.waiters_failed_on_stop += o.waiters_failed_on_stop;
        self.waiters_failed_on_create += o.waiters_failed_on_create;
        self.handed_back += o.handed_back;
        self.kept += o.kept;
        self.handed_off += o.handed_off;
        self.not_kept += o.not_kept;
        self.revoked += o.revoked;
        self.revoked_on_submit += o.revoked_on_submit;
        self.broken += o.broken;
        self.create_failures += o.create_failures;
        self.creations_confirmed += o.creations_confirmed;
        self.confirmed_after_stop += o.confirmed_after_stop;
        self.max_in_flight = self.max_in_flight.max(o.max_in_flight);
        self.lease_ends += o.lease_ends;
        self.stale_checks += o.stale_checks;
        self.start_failures += o.start_failures;
        self.shrinks += o.shrinks;
        self.idle_deadlines += o.idle_deadlines;
        self.idle_shutdowns += o.idle_shutdowns;
        self.shed += o.shed;
        self.checks += o.checks;
        self.stops += o.stops;
        self.closes += o.closes;
        self.closes_drained += o.closes_drained;
        self.quiescences += o.quiescences;
    }
}
