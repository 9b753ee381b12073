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
/// <para>A valid cached token is returned without a lock or an allocation. When its refresh is due
/// (<see cref="M3terAuthOptions.RefreshBeforeExpiry"/>) one background request fetches the next token, started by the
/// cache's own timer, while callers keep getting the current one; only when there is no valid token do callers wait,
/// all on the same request.</para>
/// <para>When the token endpoint rejects the credentials (400, 401, 403), the failure is remembered for
/// <see cref="M3terAuthOptions.RejectedCredentialsCacheDuration"/> and callers get it at once without a request, each
/// as an exception of its own.</para>
/// <para>Timers and background requests never capture a caller's <see cref="ExecutionContext"/>: no caller's
/// <c>AsyncLocal</c> values are kept alive by the cache, and a token request starts a trace of its own.</para>
/// </remarks>
public sealed partial class TokenProvider : ITokenProvider, IDisposable, ITokenStatusSource, IReplaceableTokenProvider, IFleetMember
{
    private readonly ITokenClient _tokenClient;
    private readonly M3terAuthOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private readonly CancellationTokenSource _disposed = new();
    private readonly WeakReference<TokenProvider> _self;
    private readonly FleetCoordinator? _fleet; // with a shared cache: the fleet's way to a token

    private CacheEntry? _entry;
    private Rejection? _rejection;

    // The token request in flight, or null. Cleared under _gate together with publishing what the request produced
    // (a token, a retry point or a remembered rejection), so a caller never sees a finished request as running.
    private Task<M3terToken>? _fetch;
    private int _refreshFailures;
    private Exception? _lastFailure;
    private volatile bool _retired;
    private TokenProvider? _successor; // under _gate: where a retired provider sends callers that need a new token
    private long _newestIssuedTicks; // written under _gate: when the newest token this provider has served was issued

    /// <summary>Initializes a new instance of the <see cref="TokenProvider"/> class.</summary>
    /// <param name="tokenClient">Where tokens come from.</param>
    /// <param name="options">The credentials and refresh settings; copied, so later changes to the instance have no effect.</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> by default.</param>
    /// <param name="logger">Where to log; nothing by default.</param>
    /// <param name="sharedCache">
    /// A cache shared with the other processes of a fleet, so they make one token request between them; none by
    /// default. Consulted only on a miss, a due refresh or a refused token, never for a valid cached token. A
    /// pre-issued <see cref="M3terAuthOptions.AccessToken"/> never goes to it.
    /// </param>
    /// <exception cref="ArgumentNullException"><paramref name="tokenClient"/> or <paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="options"/> is not valid; the message names the setting.</exception>
    public TokenProvider(ITokenClient tokenClient, M3terAuthOptions options, TimeProvider? timeProvider = null, ILogger<TokenProvider>? logger = null, ISharedTokenCache? sharedCache = null)
        : this(tokenClient, options, timeProvider, (ILogger?)logger, sharedCache)
    {
    }

    internal TokenProvider(ITokenClient tokenClient, M3terAuthOptions options, TimeProvider? timeProvider, ILogger? logger, ISharedTokenCache? sharedCache)
    {
        _tokenClient = tokenClient ?? throw new ArgumentNullException(nameof(tokenClient));
        _options = M3terAuthOptionsValidator.ValidatedCopy(options, nameof(options));
        _timeProvider = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _self = new WeakReference<TokenProvider>(this);

        // A pre-issued token is this process's own: it never goes to the shared cache.
        if (sharedCache is not null && string.IsNullOrWhiteSpace(_options.AccessToken))
        {
            _fleet = new FleetCoordinator(sharedCache, _tokenClient, _options, _timeProvider, _logger, this, _disposed.Token);
        }
    }

    /// <summary>Gets or sets the source of jitter in [0, 1) for the refresh moment (tests pin it).</summary>
    internal Func<double> Random { get; set; } = Jitter.NextDouble;

    M3terAuthOptions IReplaceableTokenProvider.Options => _options;

    M3terToken? IReplaceableTokenProvider.ValidToken(out bool foreign)
    {
        CacheEntry? entry = Volatile.Read(ref _entry);
        foreign = entry?.Foreign == true;
        return Unexpired(entry);
    }

    long IFleetMember.NewestIssuedTicks => Volatile.Read(ref _newestIssuedTicks);

    bool IFleetMember.Serves(M3terToken token) => ReferenceEquals(Volatile.Read(ref _entry)?.Token, token);

    double IFleetMember.NextJitter() => Random();

    /// <summary>What a health check, a reload and a test need to know: the token held, and how fetching the next one goes.</summary>
    TokenStatus ITokenStatusSource.GetStatus()
    {
        CacheEntry? entry = Volatile.Read(ref _entry);
        return new TokenStatus(Unexpired(entry), Volatile.Read(ref _refreshFailures), Volatile.Read(ref _lastFailure), _fleet?.Unavailable)
        {
            CachedToken = entry?.Token,
            RefreshAt = entry is null ? null : new DateTimeOffset(entry.RefreshAtTicks, TimeSpan.Zero),
            IsFetching = Volatile.Read(ref _fetch) is not null,
        };
    }

    /// <summary>The entry's token if it has not expired.</summary>
    private M3terToken? Unexpired(CacheEntry? entry) =>
        entry is not null && _timeProvider.GetUtcNow().UtcTicks < entry.ExpiresAtTicks ? entry.Token : null;

    /// <inheritdoc />
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
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

    /// <summary>
    /// Gets the cached token when it is fresh (before its refresh point), else null: the handler's warm path, the
    /// same one flag read as <see cref="GetTokenAsync"/> without a <see cref="ValueTask{TResult}"/> to unwrap.
    /// </summary>
    internal M3terToken? FreshToken
    {
        get
        {
            CacheEntry? entry = Volatile.Read(ref _entry);
            return entry is not null && entry.IsFresh ? entry.Token : null;
        }
    }

    /// <inheritdoc />
    public void Invalidate(M3terToken token)
    {
        if (token is null)
        {
            throw new ArgumentNullException(nameof(token));
        }

        if (_fleet is not null && !token.IsStatic)
        {
            // The next request removes it from the shared cache too (compare and delete) and never adopts it.
            _fleet.Refuse(token);
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
            _retired = true;
            _disposed.Cancel();
        }

        Interlocked.Exchange(ref _entry, null)?.Dispose();
    }

    /// <remarks>A caller that comes later is one that read the old provider just before the reload, and got to it only after.</remarks>
    void IReplaceableTokenProvider.Retire(TokenProvider? successor)
    {
        lock (_gate)
        {
            _retired = true;
            _successor = successor;
        }

        Interlocked.Exchange(ref _entry, null)?.Dispose();
    }

    void IReplaceableTokenProvider.Adopt(M3terToken token, bool refreshNow)
    {
        lock (_gate)
        {
            long now = _timeProvider.GetUtcNow().UtcTicks;
            if (_retired || _entry is not null || now >= token.ExpiresAt.UtcTicks)
            {
                return;
            }

            Publish(refreshNow ? new CacheEntry(token, now, token.ExpiresAt.UtcTicks, foreign: true) : CreateEntry(token));
        }
    }

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

    /// <summary>The entry's timer says its refresh is due: start it, so a quiet process refreshes ahead of time too.</summary>
    private void OnRefreshDue(CacheEntry entry)
    {
        if (!entry.Token.IsStatic && _timeProvider.GetUtcNow().UtcTicks < entry.ExpiresAtTicks)
        {
            StartBackgroundRefresh(entry);
        }
    }

    private void StartBackgroundRefresh(CacheEntry entry)
    {
        // Cheap check first: inside the refresh window every call comes here while the refresh runs.
        if (Volatile.Read(ref _fetch) is not null)
        {
            return;
        }

        lock (_gate)
        {
            if (_fetch is null && ReferenceEquals(Volatile.Read(ref _entry), entry) && !_retired)
            {
                Volatile.Write(ref _fetch, StartFetch(entry));
            }
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

            if (_fetch is Task<M3terToken> running)
            {
                fetch = running;
            }
            else
            {
                if (Volatile.Read(ref _rejection) is Rejection rejection && now < rejection.UntilTicks)
                {
                    Log.RejectionRemembered(_logger, TimeSpan.FromTicks(now - rejection.AtTicks), new DateTimeOffset(rejection.UntilTicks, TimeSpan.Zero));

                    // A new exception per caller: rethrowing one shared instance appends to its stack trace every time.
                    return Task.FromException<M3terToken>(rejection.Exception.ForCaller());
                }

                if (_disposed.IsCancellationRequested)
                {
                    return Task.FromException<M3terToken>(new ObjectDisposedException(nameof(TokenProvider)));
                }

                if (_retired && _successor is TokenProvider successor)
                {
                    return successor.GetTokenAsync(cancellationToken).AsTask();
                }

                fetch = StartFetch(null);
                Volatile.Write(ref _fetch, fetch);
            }
        }

        return AwaitSharedAsync(fetch, cancellationToken);
    }

    /// <summary>Waits for the shared request; a failure reaches each caller as an exception of its own.</summary>
    private static async Task<M3terToken> AwaitSharedAsync(Task<M3terToken> fetch, CancellationToken cancellationToken)
    {
        try
        {
            return await fetch.WaitForAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (M3terAuthException shared) when (fetch.IsFaulted)
        {
            throw shared.ForCaller();
        }
    }
}
