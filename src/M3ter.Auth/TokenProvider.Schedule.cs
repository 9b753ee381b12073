using System;
using System.Threading;
using M3ter.Auth.Internal;

namespace M3ter.Auth;

// When to refresh and when to try again: the schedule's arithmetic.
public sealed partial class TokenProvider
{
    private static readonly TimeSpan MinRefreshRetry = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan MaxRefreshRetry = TimeSpan.FromMinutes(1);

    /// <summary>When another process holds the lease for a refresh, look again after this long (±50%).</summary>
    private static readonly TimeSpan DeferredRefreshRetry = TimeSpan.FromSeconds(1);

    /// <summary>The least time between a failed or deferred refresh and its retry, so no clock can make the retries spin.</summary>
    private static readonly TimeSpan MinRetryGap = TimeSpan.FromMilliseconds(100);

    private TimeSpan Jittered(TimeSpan interval) => TimeSpan.FromTicks((long)(interval.Ticks * (0.5 + Random())));

    /// <summary>
    /// Until when a rejection made at <paramref name="nowTicks"/> is remembered. Saturated: a duration as long as
    /// <see cref="TimeSpan.MaxValue"/> means "until the credentials change", not an overflow.
    /// </summary>
    private long RememberedUntil(long nowTicks) =>
        _options.RejectedCredentialsCacheDuration.Ticks > DateTimeOffset.MaxValue.UtcTicks - nowTicks
            ? DateTimeOffset.MaxValue.UtcTicks
            : nowTicks + _options.RejectedCredentialsCacheDuration.Ticks;

    /// <summary>How long to back off after <paramref name="failures"/> failed refreshes, and not before a remembered rejection expires.</summary>
    private long BackoffTicks(long now, int failures)
    {
        TimeSpan delay = RetryDelays.Backoff(MinRefreshRetry, failures - 1, Random());
        long ticks = Math.Min(delay.Ticks, MaxRefreshRetry.Ticks);
        if (Volatile.Read(ref _rejection) is Rejection rejection && rejection.UntilTicks > now)
        {
            ticks = Math.Max(ticks, rejection.UntilTicks - now);
        }

        return ticks;
    }

    /// <summary>
    /// When to try a refresh again: after <paramref name="delayTicks"/>, but never later than halfway through what the
    /// token has left, so a recovering endpoint is retried before it runs out; and never sooner than
    /// <see cref="MinRetryGap"/>, so a frozen or coarse clock cannot spin. Null when there is no room before expiry.
    /// </summary>
    private static long? RetryPoint(CacheEntry current, long now, long delayTicks)
    {
        long wait = Math.Min(delayTicks, (current.ExpiresAtTicks - now) / 2);
        wait = Math.Max(wait, MinRetryGap.Ticks);
        return now + wait < current.ExpiresAtTicks ? now + wait : null;
    }

    private CacheEntry CreateEntry(M3terToken token)
    {
        long expires = token.ExpiresAt.UtcTicks;
        if (token.IsStatic)
        {
            // A pre-issued token cannot be renewed ahead of time: it is used until it expires.
            return new CacheEntry(token, expires, expires);
        }

        long issued = token.IssuedAt < token.ExpiresAt ? token.IssuedAt.UtcTicks : _timeProvider.GetUtcNow().UtcTicks;
        long lifetime = Math.Max(expires - issued, 0);

        // Refresh RefreshBeforeExpiry early, or halfway through a token too short for that, and a little earlier
        // still at random (up to 10%), so a fleet started together does not refresh in lock-step. But never sooner
        // than halfway through what is left now: a token that arrived late (a slow endpoint) is not refreshed at once,
        // which for short tokens would be an endless chain of requests.
        long before = Math.Min(_options.RefreshBeforeExpiry.Ticks, lifetime / 2);
        before += (long)(before * 0.1 * Random());
        long now = _timeProvider.GetUtcNow().UtcTicks;
        long refreshAt = Math.Max(expires - Math.Min(before, lifetime), now + ((expires - now) / 2));
        return new CacheEntry(token, Math.Min(refreshAt, expires), expires);
    }
}
