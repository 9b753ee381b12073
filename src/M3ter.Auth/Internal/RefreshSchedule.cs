using System;

namespace M3ter.Auth.Internal;

/// <summary>
/// The refresh schedule's arithmetic, as pure functions of ticks (UTC) and a random number in [0, 1): when to refresh a
/// token, when to try a failed or deferred refresh again, and how long a rejection is remembered.
/// </summary>
internal static class RefreshSchedule
{
    /// <summary>The first back-off after a failed refresh (then doubling, ±25%).</summary>
    public static readonly TimeSpan MinRefreshRetry = TimeSpan.FromSeconds(1);

    /// <summary>The longest back-off after failed refreshes.</summary>
    public static readonly TimeSpan MaxRefreshRetry = TimeSpan.FromMinutes(1);

    /// <summary>When another process holds the lease for a refresh, look again after this long (±50%).</summary>
    public static readonly TimeSpan DeferredRefreshRetry = TimeSpan.FromSeconds(1);

    /// <summary>The least time between a failed or deferred refresh and its retry, so no clock can make the retries spin.</summary>
    public static readonly TimeSpan MinRetryGap = TimeSpan.FromMilliseconds(100);

    /// <summary><paramref name="interval"/> ±50%.</summary>
    public static TimeSpan Jittered(TimeSpan interval, double random) => TimeSpan.FromTicks((long)(interval.Ticks * (0.5 + random)));

    /// <summary>
    /// When to refresh a token issued at <paramref name="issuedTicks"/> (or, when that is not before its expiry, received
    /// at <paramref name="nowTicks"/>) and expiring at <paramref name="expiresTicks"/>: <paramref name="refreshBeforeExpiry"/>
    /// early, or halfway through a token too short for that, and a little earlier still at random (up to 10%), so a fleet
    /// started together does not refresh in lock-step. But never sooner than halfway through what is left now: a token
    /// that arrived late (a slow endpoint) is not refreshed at once, which for short tokens would be an endless chain of
    /// requests. Never after expiry.
    /// </summary>
    public static long RefreshAt(long issuedTicks, long expiresTicks, long nowTicks, TimeSpan refreshBeforeExpiry, double random)
    {
        long issued = issuedTicks < expiresTicks ? issuedTicks : nowTicks;
        long lifetime = Math.Max(expiresTicks - issued, 0);
        long before = Math.Min(refreshBeforeExpiry.Ticks, lifetime / 2);
        before += (long)(before * 0.1 * random);
        long refreshAt = Math.Max(expiresTicks - Math.Min(before, lifetime), nowTicks + ((expiresTicks - nowTicks) / 2));
        return Math.Min(refreshAt, expiresTicks);
    }

    /// <summary>
    /// When to try a refresh again: after <paramref name="delayTicks"/>, but never later than halfway through what the
    /// token has left, so a recovering endpoint is retried before it runs out; and never sooner than
    /// <see cref="MinRetryGap"/>, so a frozen or coarse clock cannot spin. Null when there is no room before expiry.
    /// </summary>
    public static long? RetryPoint(long expiresTicks, long nowTicks, long delayTicks)
    {
        long wait = Math.Min(delayTicks, (expiresTicks - nowTicks) / 2);
        wait = Math.Max(wait, MinRetryGap.Ticks);
        return nowTicks + wait < expiresTicks ? nowTicks + wait : null;
    }

    /// <summary>
    /// How long to back off after <paramref name="failures"/> failed refreshes (at least one), and not before a
    /// remembered rejection expires (<paramref name="rejectedUntilTicks"/>, if any): the same credentials would be
    /// refused again.
    /// </summary>
    public static long BackoffTicks(long nowTicks, int failures, double random, long? rejectedUntilTicks)
    {
        TimeSpan delay = RetryDelays.Backoff(MinRefreshRetry, failures - 1, random);
        long ticks = Math.Min(delay.Ticks, MaxRefreshRetry.Ticks);
        return rejectedUntilTicks is long until && until > nowTicks ? Math.Max(ticks, until - nowTicks) : ticks;
    }

    /// <summary>
    /// Until when a rejection made at <paramref name="nowTicks"/> is remembered. Saturated: a duration as long as
    /// <see cref="TimeSpan.MaxValue"/> means "until the credentials change", not an overflow.
    /// </summary>
    public static long RememberedUntil(long nowTicks, TimeSpan duration) =>
        duration.Ticks > DateTimeOffset.MaxValue.UtcTicks - nowTicks ? DateTimeOffset.MaxValue.UtcTicks : nowTicks + duration.Ticks;

    /// <summary>
    /// Whether a refresh may wait for an unavailable shared cache to come back: while the token has more than half of its
    /// refresh window left (the window being the shorter of <paramref name="refreshBeforeExpiry"/> and half its lifetime).
    /// Past that, the refresh fetches whatever the store says.
    /// </summary>
    public static bool MayDeferRefresh(long issuedTicks, long expiresTicks, long nowTicks, TimeSpan refreshBeforeExpiry)
    {
        long lifetime = expiresTicks - issuedTicks;
        long window = lifetime > 0 ? Math.Min(refreshBeforeExpiry.Ticks, lifetime / 2) : refreshBeforeExpiry.Ticks;
        return expiresTicks - nowTicks > window / 2;
    }
}
