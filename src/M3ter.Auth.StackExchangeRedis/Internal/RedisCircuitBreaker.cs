using System;
using System.Globalization;
using System.Threading;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace M3ter.Auth.StackExchangeRedis.Internal;

/// <summary>
/// The Redis token cache's circuit breaker: Redis trouble opens it for the break duration, during which calls are
/// misses without going to Redis; after it one call probes while the others still miss, and only a call that started
/// after the last failure closes it (an answer older than that failure says nothing of Redis now).
/// </summary>
/// <remarks>
/// Not Polly's <c>CircuitBreakerStrategy</c>: that one opens on a failure ratio over a sampling window with a minimum
/// throughput, and its half-open state closes on any success. Here the first failure opens it (a token cache makes a
/// few calls a minute, never enough for a ratio), the write and the release of a lease this process may hold go
/// through while it is open (the caller does not ask it), and a success that started before a later failure does not
/// close it.
/// </remarks>
internal sealed class RedisCircuitBreaker(TimeSpan breakDuration, TimeProvider timeProvider, ILogger logger)
{
    private readonly object _gate = new();
    private long _openUntilTicks;
    private string? _openReason;
    private int _probing;
    private long _trips;

    /// <summary>Gets how many times the breaker has opened: a call remembers it when it starts, to close the breaker only if nothing failed since.</summary>
    public long Trips => Volatile.Read(ref _trips);

    /// <summary>Gets why Redis is not being called, and until when; null while the breaker is closed or its break is over.</summary>
    public string? Unavailable
    {
        get
        {
            lock (_gate)
            {
                return timeProvider.GetUtcNow().UtcTicks < _openUntilTicks
                    ? string.Format(CultureInfo.InvariantCulture, "Redis is unavailable ({0}); next try at {1:O}", _openReason, new DateTimeOffset(_openUntilTicks, TimeSpan.Zero))
                    : null;
            }
        }
    }

    /// <summary>
    /// Whether a call may go to Redis: always while the breaker is closed; while it is open, never during the break,
    /// and after it only as the one probe (<paramref name="probe"/>, ended with <see cref="EndProbe"/>).
    /// <paramref name="trips"/> is the failure count the call starts under.
    /// </summary>
    public bool MayCall(out bool probe, out long trips)
    {
        probe = false;
        trips = Volatile.Read(ref _trips);
        if (Volatile.Read(ref _openReason) is null)
        {
            return true;
        }

        if (timeProvider.GetUtcNow().UtcTicks < Volatile.Read(ref _openUntilTicks) || Interlocked.CompareExchange(ref _probing, 1, 0) != 0)
        {
            return false;
        }

        probe = true;
        trips = Volatile.Read(ref _trips);
        return true;
    }

    /// <summary>The probe was answered, failed or was cancelled: the next call after the break may probe.</summary>
    public void EndProbe() => Volatile.Write(ref _probing, 0);

    /// <summary>Opens the breaker (again) for the break duration: <paramref name="operation"/> failed or went unanswered.</summary>
    public void Trip(string operation, Exception ex)
    {
        string reason = operation + ": " + Describe(ex);
        bool wasClosed;
        lock (_gate)
        {
            long now = timeProvider.GetUtcNow().UtcTicks;
            wasClosed = _openReason is null;
            Volatile.Write(ref _openUntilTicks, now + breakDuration.Ticks);
            Volatile.Write(ref _openReason, reason);
            Interlocked.Increment(ref _trips);
        }

        M3terRedisTokenCacheDiagnostics.RecordError(ex is TimeoutException or OperationCanceledException ? "timeout" : ex.GetType().Name);
        if (wasClosed)
        {
            Log.Unavailable(logger, reason, breakDuration);
        }
    }

    /// <summary>Closes the breaker after a call that succeeded, unless a call failed after this one started (<paramref name="trips"/> is no longer the count).</summary>
    public void Close(long trips)
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

        Log.Recovered(logger);
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
