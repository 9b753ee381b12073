using System;
using System.Threading;
using M3ter.Auth.StackExchangeRedis.Internal;
using StackExchange.Redis;

namespace M3ter.Auth.StackExchangeRedis;

// The circuit breaker: Redis trouble opens it for BreakDuration; then one call probes.
public sealed partial class M3terRedisTokenCache
{
    /// <summary>
    /// Whether a call may go to Redis: always while the breaker is closed; while it is open, never during the break,
    /// and after it only as the one probe (<paramref name="probe"/>). <paramref name="trips"/> is the failure count
    /// the call starts under.
    /// </summary>
    private bool MayCall(out bool probe, out long trips)
    {
        probe = false;
        trips = Volatile.Read(ref _trips);
        if (Volatile.Read(ref _openReason) is null)
        {
            return true;
        }

        if (_timeProvider.GetUtcNow().UtcTicks < Volatile.Read(ref _openUntilTicks) || Interlocked.CompareExchange(ref _probing, 1, 0) != 0)
        {
            return false;
        }

        probe = true;
        trips = Volatile.Read(ref _trips);
        return true;
    }

    private void Trip(string operation, Exception ex)
    {
        string reason = operation + ": " + Describe(ex);
        bool wasClosed;
        lock (_gate)
        {
            long now = _timeProvider.GetUtcNow().UtcTicks;
            wasClosed = _openReason is null;
            Volatile.Write(ref _openUntilTicks, now + _options.BreakDuration.Ticks);
            Volatile.Write(ref _openReason, reason);
            Interlocked.Increment(ref _trips);
        }

        M3terRedisTokenCacheDiagnostics.RecordError(ex is TimeoutException or OperationCanceledException ? "timeout" : ex.GetType().Name);
        if (wasClosed)
        {
            Log.Unavailable(_logger, reason, _options.BreakDuration);
        }
    }

    /// <summary>Closes the breaker after a call that succeeded, unless a call failed after this one started (its answer is older than that failure).</summary>
    private void Close(long trips)
    {
        if (Volatile.Read(ref _openReason) is null)
        {
            return;
        }

        lock (_gate)
        {
            if (_openReason is null || Volatile.Read(ref _trips) != trips)
            {
                return;
            }

            Volatile.Write(ref _openReason, null);
            Volatile.Write(ref _openUntilTicks, 0);
        }

        Log.Recovered(_logger);
    }

    /// <summary>Says what went wrong without the configuration string or any value (StackExchange.Redis messages can quote endpoints and commands).</summary>
    private static string Describe(Exception ex) => ex switch
    {
        TimeoutException or OperationCanceledException => "no answer within the operation timeout",
        RedisConnectionException connection => "connection failure (" + connection.FailureType + ")",
        RedisServerException => "Redis refused the command",
        _ => ex.GetType().Name,
    };
}
