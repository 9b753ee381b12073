using System;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace M3ter.Auth;

/// <summary>
/// Caches the access token from an <see cref="ITokenClient"/>, refreshes it in the background before it expires, and
/// lets any number of concurrent callers share one token request.
/// </summary>
/// <remarks>
/// <para>A valid cached token is returned without a lock or an allocation. Inside the refresh window
/// (<see cref="M3terAuthOptions.RefreshBeforeExpiry"/>) callers keep getting the current token while one background
/// request fetches the next; only when there is no valid token do callers wait, all on the same request.</para>
/// <para>When the token endpoint rejects the credentials (400, 401, 403), the failure is remembered for
/// <see cref="M3terAuthOptions.RejectedCredentialsCacheDuration"/> and callers get it at once without a request.</para>
/// </remarks>
public sealed class TokenProvider : ITokenProvider, IDisposable, ITokenStatusSource
{
    private static readonly TimeSpan MinRefreshRetry = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxRefreshRetry = TimeSpan.FromMinutes(1);

    private readonly ITokenClient _tokenClient;
    private readonly M3terAuthOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private readonly CancellationTokenSource _disposed = new();

    private CacheEntry? _entry;
    private Rejection? _rejection;
    private Task<M3terToken>? _fetch;
    private int _refreshFailures;
    private Exception? _lastFailure;

    /// <summary>Initializes a new instance of the <see cref="TokenProvider"/> class.</summary>
    /// <param name="tokenClient">Where tokens come from.</param>
    /// <param name="options">The refresh settings; copied, so later changes to the instance have no effect.</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> by default.</param>
    /// <param name="logger">Where to log; nothing by default.</param>
    /// <exception cref="ArgumentNullException"><paramref name="tokenClient"/> or <paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="options"/> is not valid; the message names the setting.</exception>
    public TokenProvider(ITokenClient tokenClient, M3terAuthOptions options, TimeProvider? timeProvider = null, ILogger<TokenProvider>? logger = null)
        : this(tokenClient, options, timeProvider, (ILogger?)logger)
    {
    }

    internal TokenProvider(ITokenClient tokenClient, M3terAuthOptions options, TimeProvider? timeProvider, ILogger? logger)
    {
        _tokenClient = tokenClient ?? throw new ArgumentNullException(nameof(tokenClient));
        _options = M3terAuthOptionsValidator.ValidatedCopy(options, nameof(options));
        _timeProvider = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Gets or sets the source of jitter in [0, 1) for the refresh moment (tests pin it).</summary>
    internal Func<double> Random { get; set; } = Jitter.NextDouble;

    /// <summary>Gets the options this provider runs with.</summary>
    internal M3terAuthOptions Options => _options;

    /// <summary>Gets the cached token, if any, without fetching or checking expiry.</summary>
    internal M3terToken? CachedToken => Volatile.Read(ref _entry)?.Token;

    /// <summary>Gets when the cached token is due for refresh, if there is one.</summary>
    internal DateTimeOffset? RefreshAt => Volatile.Read(ref _entry) is CacheEntry entry ? new DateTimeOffset(entry.RefreshAtTicks, TimeSpan.Zero) : null;

    /// <summary>What a health check needs to know: the valid token, if any, and whether fetching the next one is failing.</summary>
    TokenStatus ITokenStatusSource.GetStatus() => GetStatus();

    internal TokenStatus GetStatus()
    {
        CacheEntry? entry = Volatile.Read(ref _entry);
        M3terToken? valid = entry is not null && _timeProvider.GetUtcNow().UtcTicks < entry.ExpiresAtTicks ? entry.Token : null;
        return new TokenStatus(valid, Volatile.Read(ref _refreshFailures), Volatile.Read(ref _lastFailure));
    }

    /// <inheritdoc />
    public ValueTask<M3terToken> GetTokenAsync(CancellationToken cancellationToken = default)
    {
        // The hot path reads one flag: a timer marks the entry stale when its refresh is due, so a fresh token
        // costs no clock read, no lock and no allocation.
        CacheEntry? entry = Volatile.Read(ref _entry);
        if (entry is not null && entry.IsFresh)
        {
            return new ValueTask<M3terToken>(entry.Token);
        }

        return GetTokenSlow(entry, cancellationToken);
    }

    /// <inheritdoc />
    public void Invalidate(M3terToken token)
    {
        if (token is null)
        {
            throw new ArgumentNullException(nameof(token));
        }

        CacheEntry? entry = Volatile.Read(ref _entry);
        if (entry is not null && ReferenceEquals(entry.Token, token) && Interlocked.CompareExchange(ref _entry, null, entry) == entry)
        {
            entry.Dispose();
        }
    }

    /// <summary>Cancels any token request in flight. Callers waiting on it get an <see cref="OperationCanceledException"/>.</summary>
    public void Dispose()
    {
        // Cancelled, not disposed: a fetch that is still running reads its token.
        lock (_gate)
        {
            _disposed.Cancel();
        }

        Volatile.Read(ref _entry)?.Dispose();
    }

    /// <summary>
    /// Drops the cached token and stops its timer, without cancelling a request that callers may still be waiting on:
    /// for a provider that configuration has just replaced.
    /// </summary>
    internal void Retire() => Interlocked.Exchange(ref _entry, null)?.Dispose();

    private ValueTask<M3terToken> GetTokenSlow(CacheEntry? entry, CancellationToken cancellationToken)
    {
        if (entry is not null)
        {
            long now = _timeProvider.GetUtcNow().UtcTicks;
            if (now < entry.RefreshAtTicks)
            {
                return new ValueTask<M3terToken>(entry.Token);
            }

            if (now < entry.ExpiresAtTicks)
            {
                StartBackgroundRefresh(entry);
                return new ValueTask<M3terToken>(entry.Token);
            }
        }

        return new ValueTask<M3terToken>(WaitForTokenAsync(cancellationToken));
    }

    /// <summary>Caches a new entry and retires the one it replaces (stopping its timer).</summary>
    private void Store(CacheEntry entry)
    {
        Interlocked.Exchange(ref _entry, entry)?.Dispose();
        if (_disposed.IsCancellationRequested)
        {
            entry.Dispose();
        }
    }

    private void StartBackgroundRefresh(CacheEntry entry)
    {
        // Cheap check first: inside the refresh window every call comes here while the refresh runs.
        if (Volatile.Read(ref _fetch) is { IsCompleted: false })
        {
            return;
        }

        lock (_gate)
        {
            if (_fetch is { IsCompleted: false } || !ReferenceEquals(Volatile.Read(ref _entry), entry) || _disposed.IsCancellationRequested)
            {
                return;
            }

            Volatile.Write(ref _fetch, FetchAsync(entry));
        }
    }

    private Task<M3terToken> WaitForTokenAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Task<M3terToken> fetch;
        lock (_gate)
        {
            long now = _timeProvider.GetUtcNow().UtcTicks;
            CacheEntry? entry = Volatile.Read(ref _entry);
            if (entry is not null && now < entry.ExpiresAtTicks)
            {
                return Task.FromResult(entry.Token);
            }

            if (_fetch is { IsCompleted: false } running)
            {
                fetch = running;
            }
            else
            {
                if (Volatile.Read(ref _rejection) is Rejection rejection && now < rejection.UntilTicks)
                {
                    Log.RejectionRemembered(_logger, TimeSpan.FromTicks(now - rejection.AtTicks), new DateTimeOffset(rejection.UntilTicks, TimeSpan.Zero));
                    return Task.FromException<M3terToken>(rejection.Exception);
                }

                if (_disposed.IsCancellationRequested)
                {
                    return Task.FromException<M3terToken>(new ObjectDisposedException(nameof(TokenProvider)));
                }

                fetch = FetchAsync(null);
                Volatile.Write(ref _fetch, fetch);
            }
        }

        return fetch.WaitForAsync(cancellationToken);
    }

    /// <summary>Requests a token and caches it. <paramref name="current"/> is the still-valid token a background refresh replaces.</summary>
    private Task<M3terToken> FetchAsync(CacheEntry? current)
    {
        // On the thread pool, outside the lock and any caller's synchronization context.
        Task<M3terToken> task = Task.Run(() => FetchCoreAsync(current));
        task.ObserveFailure();
        return task;
    }

    private async Task<M3terToken> FetchCoreAsync(CacheEntry? current)
    {
        // On the provider's own cancellation: a caller giving up never cancels the request the others wait on.
        try
        {
            M3terToken token = await _tokenClient.RequestTokenAsync(_disposed.Token).ConfigureAwait(false);
            Store(CreateEntry(token));
            Volatile.Write(ref _rejection, null);
            Volatile.Write(ref _refreshFailures, 0);
            Volatile.Write(ref _lastFailure, null);
            return token;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Volatile.Write(ref _lastFailure, ex);
            long now = _timeProvider.GetUtcNow().UtcTicks;
            if (ex is M3terAuthException { IsCredentialRejection: true } rejected && _options.RejectedCredentialsCacheDuration > TimeSpan.Zero)
            {
                Volatile.Write(ref _rejection, new Rejection(rejected, now, now + _options.RejectedCredentialsCacheDuration.Ticks));
            }

            if (current is not null && now < current.ExpiresAtTicks)
            {
                PostponeRefresh(current, now, ex);
            }

            throw;
        }
    }

    /// <summary>A background refresh failed while the token is still valid: keep serving it and try again later, backing off.</summary>
    private void PostponeRefresh(CacheEntry current, long now, Exception failure)
    {
        int failures = Interlocked.Increment(ref _refreshFailures);
        TimeSpan delay = RetryDelays.Backoff(MinRefreshRetry, failures - 1, Random());
        if (delay > MaxRefreshRetry)
        {
            delay = MaxRefreshRetry;
        }

        // Never wait past half of what is left, so a recovering endpoint is retried before the token runs out.
        long half = (current.ExpiresAtTicks - now) / 2;
        long retryAt = now + Math.Min(delay.Ticks, Math.Max(half, 0));
        var postponed = new CacheEntry(current.Token, retryAt, current.ExpiresAtTicks, _timeProvider);
        (Interlocked.CompareExchange(ref _entry, postponed, current) == current ? current : postponed).Dispose();

        TimeSpan retryIn = TimeSpan.FromTicks(retryAt - now);
        if (failures == 1)
        {
            Log.BackgroundRefreshFailed(_logger, current.Token.ExpiresAt, retryIn, failure.Message);
        }
        else
        {
            Log.BackgroundRefreshStillFailing(_logger, failures, retryIn, failure.Message);
        }
    }

    private CacheEntry CreateEntry(M3terToken token)
    {
        long expires = token.ExpiresAt.UtcTicks;
        if (token.IsStatic)
        {
            // A pre-issued token cannot be renewed ahead of time: it is used until it expires.
            return new CacheEntry(token, expires, expires, _timeProvider);
        }

        long issued = token.IssuedAt < token.ExpiresAt ? token.IssuedAt.UtcTicks : _timeProvider.GetUtcNow().UtcTicks;
        long lifetime = Math.Max(expires - issued, 0);

        // Refresh RefreshBeforeExpiry early, or halfway through a token too short for that, and a little earlier
        // still at random (up to 10%), so a fleet started together does not refresh in lock-step.
        long before = Math.Min(_options.RefreshBeforeExpiry.Ticks, lifetime / 2);
        before += (long)(before * 0.1 * Random());
        return new CacheEntry(token, expires - Math.Min(before, lifetime), expires, _timeProvider);
    }

    /// <summary>
    /// A cached token and when to refresh it. A timer on the provider's clock marks it stale when the refresh is due;
    /// the timer wakes at least once a minute to compare with the wall clock, because monotonic timers do not count
    /// time a machine spends asleep.
    /// </summary>
    private sealed class CacheEntry : IDisposable
    {
        private static readonly TimeSpan MaxTimerInterval = TimeSpan.FromMinutes(1);
        private readonly TimeProvider _timeProvider;
        private readonly ITimer? _timer;
        private volatile bool _stale;

        public CacheEntry(M3terToken token, long refreshAtTicks, long expiresAtTicks, TimeProvider timeProvider)
        {
            Token = token;
            RefreshAtTicks = refreshAtTicks;
            ExpiresAtTicks = expiresAtTicks;
            _timeProvider = timeProvider;
            if (refreshAtTicks == DateTimeOffset.MaxValue.UtcTicks)
            {
                return; // a pre-issued token without expiry: nothing to wait for
            }

            _timer = timeProvider.CreateTimer(static state => ((CacheEntry)state!).Check(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            Check();
        }

        public M3terToken Token { get; }

        public long RefreshAtTicks { get; }

        public long ExpiresAtTicks { get; }

        /// <summary>Gets a value indicating whether the refresh is not yet due (as far as the timer knows).</summary>
        public bool IsFresh => !_stale;

        public void Dispose()
        {
            _stale = true;
            _timer?.Dispose();
        }

        private void Check()
        {
            long wait = RefreshAtTicks - _timeProvider.GetUtcNow().UtcTicks;
            if (wait <= 0 || _stale)
            {
                Dispose();
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
