using System;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.StackExchangeRedis.Internal;
using StackExchange.Redis;

namespace M3ter.Auth.StackExchangeRedis;

// One Redis call: bounded, guarded by the circuit breaker (Internal/RedisCircuitBreaker), and watched when slow.
public sealed partial class M3terRedisTokenCache
{
    /// <summary>
    /// One Redis call, bounded and guarded by the circuit breaker. Its value is null when the breaker is open, the
    /// connection is not ready, or the call fails or times out; <see cref="CallResult.MaybeRan"/> then says whether it
    /// was sent (Redis may have run it). Slow is not dead: a read that takes longer than the operation timeout is a miss
    /// for its caller, but opens the breaker only if it is still unanswered at the hard bound (or fails). A lease call,
    /// whose answer saves a token request, waits for the hard bound. The write and the release of a lease this process
    /// may hold go to Redis even while the breaker is open; once sent, they run in Redis whether or not their caller
    /// waits for the answer, in the order they were sent. Once the break is over, one call probes Redis while the
    /// others still miss; only a call that started after the last failure closes it.
    /// </summary>
    private async Task<CallResult> RunAsync(string operation, Func<IDatabase, ScopeKeys, Task<RedisResult>> call, ScopeKeys keys, CallKind kind, CancellationToken cancellationToken)
    {
        bool probe = false;
        long trips = _breaker.Trips;
        if (Volatile.Read(ref _disposed) != 0 || (kind != CallKind.Must && !_breaker.MayCall(out probe, out trips)))
        {
            return default;
        }

        Task<RedisResult>? pending = null;
        try
        {
            Task<IConnectionMultiplexer> connecting = _connection.Get();
            if (!connecting.IsCompleted)
            {
                await _connection.WaitAsync(connecting, cancellationToken).ConfigureAwait(false);
            }

            // Until Redis has answered once, a call may take ConnectTimeout: a new process's first commands pay for
            // warming up (on a busy machine, more than OperationTimeout) and must not trip the breaker for it.
            IConnectionMultiplexer connection = await connecting.ConfigureAwait(false);
            TimeSpan hard = HardTimeout;
            TimeSpan timeout = kind != CallKind.Lease && Volatile.Read(ref _answered) ? _options.OperationTimeout : hard;
            pending = call(connection.GetDatabase(), keys);
            RedisResult result;
            try
            {
                result = await pending.WaitAsync(timeout, _timeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException) when (timeout < hard)
            {
                _ = WatchSlowCallAsync(operation, pending, hard - timeout, probe, trips);
                probe = false; // a probe stays the only one until its watcher knows how it ended
                return new CallResult(null, MaybeRan: true);
            }

            Volatile.Write(ref _answered, true);
            _breaker.Close(trips);
            return new CallResult(result, MaybeRan: true);
        }
        catch (Exception ex) when (Volatile.Read(ref _disposed) != 0 && ex is ObjectDisposedException or OperationCanceledException or RedisConnectionException)
        {
            Observe(pending);
            return new CallResult(null, MaybeRan: pending is not null); // disposed meanwhile: a miss, and nothing to report
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Observe(pending);
            throw;
        }
#pragma warning disable CA1031 // Redis trouble of any kind (a factory that throws included) is a miss, never the caller's failure.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Observe(pending);
            _breaker.Trip(operation, ex);
            return new CallResult(null, MaybeRan: pending is not null);
        }
        finally
        {
            if (probe)
            {
                _breaker.EndProbe();
            }
        }
    }

    /// <summary>
    /// How long a call may go unanswered before Redis counts as unavailable: <see cref="M3terRedisTokenCacheOptions.ConnectTimeout"/>
    /// until Redis has answered once (a new process warming up), then four operation timeouts.
    /// </summary>
    private TimeSpan HardTimeout =>
        Volatile.Read(ref _answered) ? TimeSpan.FromTicks(_options.OperationTimeout.Ticks * 4) : _options.ConnectTimeout;

    /// <summary>A read that outlived its caller's patience: Redis is slow, and counts as unavailable only if this call fails or stays unanswered until the hard bound.</summary>
    private async Task WatchSlowCallAsync(string operation, Task<RedisResult> pending, TimeSpan rest, bool probe, long trips)
    {
        try
        {
            await pending.WaitAsync(rest, _timeProvider, CancellationToken.None).ConfigureAwait(false);
            Volatile.Write(ref _answered, true);
            _breaker.Close(trips);
        }
#pragma warning disable CA1031 // observed here, reported as the breaker opening
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Observe(pending);
            if (Volatile.Read(ref _disposed) == 0)
            {
                _breaker.Trip(operation, ex);
            }
        }
        finally
        {
            if (probe)
            {
                _breaker.EndProbe();
            }
        }
    }

    /// <summary>A call given up on (timed out, cancelled) may still fail later: its exception must not go unobserved.</summary>
    private static void Observe(Task<RedisResult>? pending)
    {
        if (pending is { IsCompleted: false })
        {
            _ = pending.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        else if (pending is { IsFaulted: true })
        {
            _ = pending.Exception;
        }
    }

    /// <summary>What a Redis call came to: its answer, or none, and whether it was sent (so Redis may have run it).</summary>
    private readonly record struct CallResult(RedisResult? Value, bool MaybeRan);

    private enum CallKind
    {
        /// <summary>A read, a removal or a renewal: a miss when slow; the breaker opens at the hard bound.</summary>
        Read,

        /// <summary>Taking the lease: waits for the hard bound, since its answer saves a token request.</summary>
        Lease,

        /// <summary>The write and release of a lease this process may hold: sent even while the breaker is open; otherwise as a read.</summary>
        Must,
    }
}
