using System;
using System.Threading;
using M3ter.Auth.Internal;

namespace M3ter.Auth;

// What the provider holds: the cached token with its refresh timer, and a remembered rejection.
public sealed partial class TokenProvider
{
    /// <summary>
    /// A cached token and when to refresh it. Once published, a timer on the provider's clock marks it stale when the
    /// refresh is due and tells the provider, which starts the refresh. The timer wakes at least once a minute to
    /// compare with the wall clock, because monotonic timers do not count time a machine spends asleep. It holds the
    /// provider weakly: a provider dropped without <c>Dispose</c> is collected, and its timer stops.
    /// </summary>
    private sealed class CacheEntry(M3terToken token, long refreshAtTicks, long expiresAtTicks, bool foreign = false) : IDisposable
    {
        private static readonly TimeSpan MaxTimerInterval = TimeSpan.FromMinutes(1);
        private TimeProvider? _timeProvider;
        private WeakReference<TokenProvider>? _owner;
        private ITimer? _timer;
        private volatile bool _stale;
        private volatile bool _retired;

        public M3terToken Token { get; } = token;

        public long RefreshAtTicks { get; } = refreshAtTicks;

        public long ExpiresAtTicks { get; } = expiresAtTicks;

        /// <summary>Gets a value indicating whether the token was obtained with credentials no longer configured, served only until new ones produce a token.</summary>
        public bool Foreign { get; } = foreign;

        /// <summary>Gets a value indicating whether the refresh is not yet due (as far as the timer knows).</summary>
        public bool IsFresh => !_stale;

        /// <summary>Starts watching the refresh moment; called once the entry is in the cache, so a due refresh finds it there.</summary>
        public void Start(TimeProvider timeProvider, WeakReference<TokenProvider> owner)
        {
            _timeProvider = timeProvider;
            _owner = owner;
            if (RefreshAtTicks == DateTimeOffset.MaxValue.UtcTicks)
            {
                return; // a pre-issued token without expiry: nothing to wait for
            }

            if (Token.IsStatic)
            {
                // A pre-issued token cannot be replaced, so after its expiry it must never be served, not even in the
                // minute a timer may take to notice: every call reads the clock (the slow path) instead.
                _stale = true;
                return;
            }

            _timer = DetachedContext.Run(static entry => entry._timeProvider!.CreateTimer(static state => ((CacheEntry)state!).Check(), entry, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan), this);
            Check();
        }

        public void Dispose()
        {
            _retired = true;
            _stale = true;
            _timer?.Dispose();
        }

        private void Check()
        {
            if (_retired || _stale)
            {
                return;
            }

            if (!_owner!.TryGetTarget(out TokenProvider? provider))
            {
                Dispose(); // the provider was dropped without Dispose: stop
                return;
            }

            long wait = RefreshAtTicks - _timeProvider!.GetUtcNow().UtcTicks;
            if (wait <= 0)
            {
                _stale = true;
                _timer?.Dispose();
                provider.OnRefreshDue(this);
                return;
            }

            try
            {
                _timer!.Change(TimeSpan.FromTicks(Math.Min(wait, MaxTimerInterval.Ticks)), Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // Retired meanwhile.
            }
        }
    }

    private sealed class Rejection(M3terAuthException exception, long atTicks, long untilTicks)
    {
        public M3terAuthException Exception { get; } = exception;

        public long AtTicks { get; } = atTicks;

        public long UntilTicks { get; } = untilTicks;
    }
}
