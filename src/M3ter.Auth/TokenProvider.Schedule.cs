using System;
using System.Threading;
using M3ter.Auth.Internal;

namespace M3ter.Auth;

// The schedule applied to this provider's entries, its options and its source of jitter (the arithmetic itself is
// RefreshSchedule's).
public sealed partial class TokenProvider
{
    private TimeSpan Jittered(TimeSpan interval) => RefreshSchedule.Jittered(interval, Random());

    private long RememberedUntil(long nowTicks) => RefreshSchedule.RememberedUntil(nowTicks, _options.RejectedCredentialsCacheDuration);

    private long BackoffTicks(long nowTicks, int failures) =>
        RefreshSchedule.BackoffTicks(nowTicks, failures, Random(), Volatile.Read(ref _rejection)?.UntilTicks);

    private static long? RetryPoint(CacheEntry current, long nowTicks, long delayTicks) =>
        RefreshSchedule.RetryPoint(current.ExpiresAtTicks, nowTicks, delayTicks);

    private CacheEntry CreateEntry(M3terToken token)
    {
        long expires = token.ExpiresAt.UtcTicks;
        if (token.IsStatic)
        {
            // A pre-issued token cannot be renewed ahead of time: it is used until it expires.
            return new CacheEntry(token, expires, expires);
        }

        long now = _timeProvider.GetUtcNow().UtcTicks;
        return new CacheEntry(token, RefreshSchedule.RefreshAt(token.IssuedAt.UtcTicks, expires, now, _options.RefreshBeforeExpiry, Random()), expires);
    }
}
