using System;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.StackExchangeRedis.Internal;
using StackExchange.Redis;

namespace M3ter.Auth.StackExchangeRedis;

// The lease a token request holds: renewed while the request runs, for at most MaxLeaseHold.
public sealed partial class M3terRedisTokenCache
{
    /// <summary>When a lease taken or renewed now runs out.</summary>
    private long LeaseEndTicks() => _timeProvider.GetUtcNow().UtcTicks + _options.LeaseDuration.Ticks;

    /// <summary>Keeps a lease this process may hold alive while its token request runs, so that a slow holder is not abandoned and a dead one is noticed within one <see cref="M3terRedisTokenCacheOptions.LeaseDuration"/>.</summary>
    private void StartRenewal(ScopeKeys keys, string owner, long leaseMs)
    {
        lock (keys)
        {
            if (keys.Renewal is not null || Volatile.Read(ref _disposed) != 0)
            {
                return;
            }

            var renewer = new LeaseRenewer(this, keys, owner, leaseMs, _timeProvider.GetUtcNow() + MaxLeaseHold);
            TimeSpan period = TimeSpan.FromMilliseconds(Math.Max(leaseMs / 3, 1));
            bool suppress = !ExecutionContext.IsFlowSuppressed(); // a timer must not keep a caller's AsyncLocals alive
            AsyncFlowControl flow = suppress ? ExecutionContext.SuppressFlow() : default;
            try
            {
                renewer.Timer = _timeProvider.CreateTimer(static state => ((LeaseRenewer)state!).Tick(), renewer, period, period);
                keys.Renewal = renewer;
            }
            finally
            {
                if (suppress)
                {
                    flow.Undo();
                }
            }
        }
    }

    /// <summary>
    /// Stops the renewal of the scope's lease: any renewal (<paramref name="renewer"/> null, for a release), or only
    /// <paramref name="renewer"/> if it is still the current one, so that a renewal's late answer about a lease that
    /// was released meanwhile cannot stop the renewal of the next lease the process takes.
    /// </summary>
    private static bool StopRenewal(ScopeKeys keys, LeaseRenewer? renewer)
    {
        LeaseRenewer? current;
        lock (keys)
        {
            current = keys.Renewal as LeaseRenewer;
            if (current is null || (renewer is not null && !ReferenceEquals(current, renewer)))
            {
                return false;
            }

            keys.Renewal = null;
        }

        current.Timer?.Dispose();
        return true;
    }

    /// <summary>Renews one held lease every third of its duration, until it is released, lost, the cache is disposed or <see cref="MaxLeaseHold"/> passes.</summary>
    private sealed class LeaseRenewer(M3terRedisTokenCache cache, ScopeKeys keys, string owner, long leaseMs, DateTimeOffset until)
    {
        private int _busy;

        public ITimer? Timer { get; set; }

        public void Tick()
        {
            if (Interlocked.Exchange(ref _busy, 1) == 0)
            {
                _ = RenewAsync();
            }
        }

        private async Task RenewAsync()
        {
            try
            {
                if (Volatile.Read(ref cache._disposed) != 0 || cache._timeProvider.GetUtcNow() > until)
                {
                    StopRenewal(keys, this); // the lease runs out LeaseDuration after the last renewal
                    return;
                }

                long renewedUntil = cache.LeaseEndTicks();
                CallResult renewed = await cache.RunAsync("renew", (db, k) => db.ScriptEvaluateAsync(RedisScripts.ExtendLeaseScript, [k.LeaseKey], [owner, leaseMs]), keys, CallKind.Read, CancellationToken.None).ConfigureAwait(false);
                if (renewed.Value is not RedisResult answer)
                {
                    return; // no answer: tried again at the next tick
                }

                lock (keys)
                {
                    if (!ReferenceEquals(keys.Renewal, this))
                    {
                        return; // released meanwhile (and maybe taken again): this answer is about a lease that is gone
                    }

                    if ((int)answer == 1)
                    {
                        keys.LeaseMaybeHeldUntil(renewedUntil);
                        return;
                    }

                    keys.LeaseNotHeld(); // not ours (any more): nothing to keep alive or release
                }

                StopRenewal(keys, this);
            }
#pragma warning disable CA1031 // a renewal that fails is retried at the next tick; the lease expires if none succeeds
            catch (Exception)
#pragma warning restore CA1031
            {
            }
            finally
            {
                Volatile.Write(ref _busy, 0);
            }
        }
    }
}
