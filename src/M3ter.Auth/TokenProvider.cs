using System;
using System.Globalization;
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
public sealed class TokenProvider : ITokenProvider, IDisposable, ITokenStatusSource
{
    private static readonly TimeSpan MinRefreshRetry = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxRefreshRetry = TimeSpan.FromMinutes(1);

    /// <summary>How often a process waiting for another's lease reads the shared cache (±50%).</summary>
    private static readonly TimeSpan LeasePollInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>How often that process also tries to take the lease over (a holder that gave up or died leaves it free).</summary>
    private static readonly TimeSpan LeaseRetryInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>When another process holds the lease for a refresh, look again after this long (±50%).</summary>
    private static readonly TimeSpan DeferredRefreshRetry = TimeSpan.FromSeconds(1);

    /// <summary>The least time between a failed or deferred refresh and its retry, so no clock can make the retries spin.</summary>
    private static readonly TimeSpan MinRetryGap = TimeSpan.FromMilliseconds(100);

    /// <summary>A shared token that expires sooner than this is not worth adopting.</summary>
    private static readonly TimeSpan MinSharedRemaining = TimeSpan.FromSeconds(1);

    private readonly ITokenClient _tokenClient;
    private readonly M3terAuthOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private readonly CancellationTokenSource _disposed = new();
    private readonly WeakReference<TokenProvider> _self;
    private readonly ISharedTokenCache? _shared;
    private readonly SharedTokenScope? _scope;

    private CacheEntry? _entry;
    private Rejection? _rejection;

    // The token request in flight, or null. Cleared under _gate together with publishing what the request produced
    // (a token, a retry point or a remembered rejection), so a caller never sees a finished request as running.
    private Task<M3terToken>? _fetch;
    private int _refreshFailures;
    private Exception? _lastFailure;
    private volatile bool _retired;
    private TokenProvider? _successor; // under _gate: where a retired provider sends callers that need a new token

    // Tokens m3ter refused: removed from the shared cache (compare and delete) by the next request, and never adopted.
    private readonly RefusedTokens _refused = new();

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
            _shared = sharedCache;
            _scope = new SharedTokenScope(_options.BaseAddress, _options.AccessKeyId, _options.ApiSecret);
        }
    }

    /// <summary>Gets or sets the source of jitter in [0, 1) for the refresh moment (tests pin it).</summary>
    internal Func<double> Random { get; set; } = Jitter.NextDouble;

    /// <summary>Gets the options this provider runs with.</summary>
    internal M3terAuthOptions Options => _options;

    /// <summary>Gets the cached token, if any, without fetching or checking expiry.</summary>
    internal M3terToken? CachedToken => Volatile.Read(ref _entry)?.Token;

    /// <summary>Gets when the cached token is due for refresh, if there is one.</summary>
    internal DateTimeOffset? RefreshAt => Volatile.Read(ref _entry) is CacheEntry entry ? new DateTimeOffset(entry.RefreshAtTicks, TimeSpan.Zero) : null;

    /// <summary>Gets a value indicating whether the cached token was obtained with other credentials (carried over by a reload) and awaits replacement.</summary>
    internal bool ServesForeignToken => Volatile.Read(ref _entry)?.Foreign == true;

    /// <summary>Gets a value indicating whether a token request is in flight.</summary>
    internal bool IsFetching => Volatile.Read(ref _fetch) is not null;

    /// <summary>What a health check needs to know: the valid token, if any, and whether fetching the next one is failing.</summary>
    TokenStatus ITokenStatusSource.GetStatus() => GetStatus();

    internal TokenStatus GetStatus() =>
        new(ValidToken(), Volatile.Read(ref _refreshFailures), Volatile.Read(ref _lastFailure), _shared?.Unavailable);

    /// <summary>Gets the cached token if it has not expired.</summary>
    internal M3terToken? ValidToken()
    {
        CacheEntry? entry = Volatile.Read(ref _entry);
        return entry is not null && _timeProvider.GetUtcNow().UtcTicks < entry.ExpiresAtTicks ? entry.Token : null;
    }

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

        if (_shared is not null && !token.IsStatic)
        {
            // The next request removes it from the shared cache too (compare and delete) and never adopts it.
            _refused.Add(token);
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

    /// <summary>
    /// Drops the cached token and stops its timer, without cancelling a request that callers may still be waiting on:
    /// for a provider that configuration has just replaced. A request still in flight no longer caches its token.
    /// A caller that comes later (one that read the old provider just before the reload, and got to it only after) is
    /// handed to <paramref name="successor"/>: a retired provider never requests a token with the replaced settings.
    /// </summary>
    internal void Retire(TokenProvider? successor = null)
    {
        lock (_gate)
        {
            _retired = true;
            _successor = successor;
        }

        Interlocked.Exchange(ref _entry, null)?.Dispose();
    }

    /// <summary>
    /// Caches a token obtained elsewhere (by the provider this one replaces), if nothing is cached yet. With
    /// <paramref name="refreshNow"/> the token is served only until this provider's own request produces the next
    /// one, which starts at once; otherwise it is refreshed on this provider's schedule.
    /// </summary>
    internal void Adopt(M3terToken token, bool refreshNow)
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

    /// <summary>Starts a token request (under <c>_gate</c>). <paramref name="current"/> is the still-valid token a background refresh replaces.</summary>
    private Task<M3terToken> StartFetch(CacheEntry? current)
    {
        var completion = new TaskCompletionSource<M3terToken>(TaskCreationOptions.RunContinuationsAsynchronously);

        // On the thread pool, outside the lock, any caller's synchronization context and any caller's ExecutionContext.
        DetachedContext.Run(
            static state =>
            {
                state.Completion.Task.ObserveFailure();
                return Task.Run(() => state.Provider.FetchAsync(state.Current, state.Completion));
            },
            (Provider: this, Current: current, Completion: completion));
        return completion.Task;
    }

    private async Task FetchAsync(CacheEntry? current, TaskCompletionSource<M3terToken> completion)
    {
        try
        {
            await FetchCoreAsync(current, completion).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Whatever goes wrong (a logger that throws included), the callers waiting must get an answer.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Clear(completion.Task);
            completion.TrySetException(ex);
        }
    }

    private async Task FetchCoreAsync(CacheEntry? current, TaskCompletionSource<M3terToken> completion)
    {
        M3terToken? token;
        try
        {
            // On the provider's own cancellation: a caller giving up never cancels the request the others wait on.
            if (_shared is null)
            {
                token = await _tokenClient.RequestTokenAsync(_disposed.Token).ConfigureAwait(false);
            }
            else
            {
                token = await ObtainThroughSharedCacheAsync(current, _disposed.Token).ConfigureAwait(false);
                if (token is null && TryDefer(current!, completion))
                {
                    return;
                }

                // The token this refresh would have gone on serving was refused or expired meanwhile, and callers may
                // be waiting on this request: get a new one the way a cold start does (which waits for the lease).
                // With no current token, it never defers (returns null).
                token ??= (await ObtainThroughSharedCacheAsync(null, _disposed.Token).ConfigureAwait(false))!;
            }
        }
#pragma warning disable CA1031 // Every failure is handed to the callers waiting on this request.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            if (ex is OperationCanceledException && _disposed.IsCancellationRequested)
            {
                Clear(completion.Task);
                completion.TrySetCanceled(_disposed.Token);
            }
            else
            {
                Fail(current, Describe(ex), completion);
            }

            return;
        }

        lock (_gate)
        {
            ClearFetch(completion.Task);
            Volatile.Write(ref _rejection, null);
            Volatile.Write(ref _refreshFailures, 0);
            Volatile.Write(ref _lastFailure, null);
            if (!_retired)
            {
                Publish(CreateEntry(token));
            }
        }

        completion.TrySetResult(token);
    }

    /// <summary>
    /// Obtains a token the fleet's way: adopt a usable shared token; else take the lease, read again, request one and
    /// share it; else (another process holds the lease) wait for its token a bounded time, or, for a background
    /// refresh while the current token is still good, look again a little later (null) instead of waiting.
    /// </summary>
    private async Task<M3terToken?> ObtainThroughSharedCacheAsync(CacheEntry? current, CancellationToken cancellationToken)
    {
        ISharedTokenCache shared = _shared!;
        SharedTokenScope scope = _scope!;
        foreach (M3terToken refused in _refused.TakePending())
        {
            await Shared(() => shared.RemoveIfHoldsAsync(scope, refused, cancellationToken)).ConfigureAwait(false);
        }

        if (await ReadUsableAsync(current, cancellationToken).ConfigureAwait(false) is M3terToken adopted)
        {
            return adopted;
        }

        if (await TryUnderLeaseAsync(current, cancellationToken).ConfigureAwait(false) is M3terToken obtained)
        {
            return obtained;
        }

        // Another process holds the lease. A refresh while the current token still serves never waits for it.
        if (current is not null && ReferenceEquals(Volatile.Read(ref _entry), current) && _timeProvider.GetUtcNow().UtcTicks < current.ExpiresAtTicks)
        {
            return null;
        }

        // Wait for the holder's token; take the lease over if the holder gives it up without one (its request failed,
        // or it crashed and the lease expired); stop waiting if the shared cache becomes unavailable.
        // The holder renews its lease while it works, so a free lease means it gave up or died: only then is the lease
        // taken over. Reads are cheap and frequent; attempts on the lease are rarer.
        M3terAuthDiagnostics.SharedCacheLeaseWaits.Add(1);
        long deadline = _timeProvider.GetUtcNow().UtcTicks + shared.LeaseWaitTimeout.Ticks;
        long nextLeaseAttempt = _timeProvider.GetUtcNow().UtcTicks + LeaseRetryInterval.Ticks;
        while (_timeProvider.GetUtcNow().UtcTicks < deadline && shared.Unavailable is null)
        {
            await _timeProvider.DelayAsync(Jittered(LeasePollInterval), cancellationToken).ConfigureAwait(false);
            if (await ReadUsableAsync(current, cancellationToken).ConfigureAwait(false) is M3terToken delivered)
            {
                return delivered;
            }

            await ThrowIfRefusedForTheFleetAsync(cancellationToken).ConfigureAwait(false); // the holder was refused

            if (_timeProvider.GetUtcNow().UtcTicks < nextLeaseAttempt)
            {
                continue;
            }

            nextLeaseAttempt = _timeProvider.GetUtcNow().UtcTicks + LeaseRetryInterval.Ticks;
            if (await TryUnderLeaseAsync(current, cancellationToken).ConfigureAwait(false) is M3terToken ownRequest)
            {
                return ownRequest;
            }
        }

        // The holder did not deliver in time: request one ourselves. The lease only saves duplicate requests.
        return await RequestAndShareAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Takes the lease if it is free, and then adopts a token shared meanwhile or requests and shares one; null when another process holds the lease.</summary>
    private async Task<M3terToken?> TryUnderLeaseAsync(CacheEntry? current, CancellationToken cancellationToken)
    {
        ISharedTokenCache shared = _shared!;
        SharedTokenScope scope = _scope!;
        if (!await Shared(() => shared.TryAcquireLeaseAsync(scope, cancellationToken), fallback: true).ConfigureAwait(false))
        {
            return null;
        }

        // "Go ahead" because the store is unavailable (slow or down), during a refresh while the token has time left:
        // not urgent, so try again shortly instead of fetching now, as every other process of the fleet would too.
        if (current is not null && shared.Unavailable is not null && MayDeferRefresh(current))
        {
            await Shared(() => shared.ReleaseLeaseAsync(scope, CancellationToken.None)).ConfigureAwait(false);
            return null;
        }

        try
        {
            // Another process may have shared a token between our read and our lease, or been refused and released
            // the lease after saying so: its refusal is ours too, and asking again would only be refused again.
            if (await ReadUsableAsync(current, cancellationToken).ConfigureAwait(false) is M3terToken adopted)
            {
                return adopted;
            }

            await ThrowIfRefusedForTheFleetAsync(cancellationToken).ConfigureAwait(false);
            return await RequestAndShareAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await Shared(() => shared.ReleaseLeaseAsync(scope, CancellationToken.None)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Whether a refresh may wait for the shared cache to come back: while the token has more than half of its refresh
    /// window left (the window being the shorter of <see cref="M3terAuthOptions.RefreshBeforeExpiry"/> and half its
    /// lifetime). Past that, the refresh fetches whatever the store says.
    /// </summary>
    private bool MayDeferRefresh(CacheEntry current)
    {
        long now = _timeProvider.GetUtcNow().UtcTicks;
        long lifetime = current.ExpiresAtTicks - current.Token.IssuedAt.UtcTicks;
        long window = lifetime > 0 ? Math.Min(_options.RefreshBeforeExpiry.Ticks, lifetime / 2) : _options.RefreshBeforeExpiry.Ticks;
        return ReferenceEquals(Volatile.Read(ref _entry), current) && current.ExpiresAtTicks - now > window / 2;
    }

    private async Task<M3terToken> RequestAndShareAsync(CancellationToken cancellationToken)
    {
        M3terToken token;
        try
        {
            token = await _tokenClient.RequestTokenAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (M3terAuthException refused) when (refused.IsCredentialRejection && _shared is ISharedRejectionCache rejections && _options.RejectedCredentialsCacheDuration > TimeSpan.Zero)
        {
            // Said before the lease is released, so whoever takes it next reads the refusal instead of asking again.
            DateTimeOffset now = _timeProvider.GetUtcNow();
            var rejection = new SharedRejection(refused.StatusCode!.Value, refused.Error, now, new DateTimeOffset(RememberedUntil(now.UtcTicks), TimeSpan.Zero));
            await Shared(() => rejections.WriteRejectionAsync(_scope!, rejection, CancellationToken.None)).ConfigureAwait(false);
            throw;
        }

        await Shared(() => _shared!.WriteIfNewerAsync(_scope!, token, cancellationToken)).ConfigureAwait(false);
        return token;
    }

    /// <summary>Fails like m3ter did if another process of the fleet shared, and still stands by, a refusal of these credentials.</summary>
    private async Task ThrowIfRefusedForTheFleetAsync(CancellationToken cancellationToken)
    {
        if (_shared is not ISharedRejectionCache rejections
            || await Shared(() => rejections.ReadRejectionAsync(_scope!, cancellationToken)).ConfigureAwait(false) is not SharedRejection rejection
            || rejection.Until <= _timeProvider.GetUtcNow())
        {
            return;
        }

        string message = string.Format(
            CultureInfo.InvariantCulture,
            "m3ter rejected the credentials of access key '{0}' at {1}oauth/token: HTTP {2} ({3}){4}, as another process sharing the token cache found at {5:O}; none of them asks again before {6:O}. Check AccessKeyId and ApiSecret.",
            _options.AccessKeyId,
            _options.BaseAddress,
            (int)rejection.StatusCode,
            rejection.StatusCode,
            rejection.Error is null ? string.Empty : ", " + rejection.Error,
            rejection.RefusedAt,
            rejection.Until);
        M3terAuthDiagnostics.SharedCacheRejections.Add(1);
        throw new M3terAuthException(message, rejection.StatusCode, rejection.Error, errorDescription: null);
    }

    /// <summary>Reads the shared token and returns it if it is worth adopting: valid for a while yet, not refused, and newer than <paramref name="current"/>.</summary>
    private async Task<M3terToken?> ReadUsableAsync(CacheEntry? current, CancellationToken cancellationToken)
    {
        M3terToken? token = await Shared(() => _shared!.ReadAsync(_scope!, cancellationToken)).ConfigureAwait(false);
        long now = _timeProvider.GetUtcNow().UtcTicks;
        bool usable = token is not null
            && token.ExpiresAt.UtcTicks - now >= MinSharedRemaining.Ticks
            && !_refused.Contains(token.AccessToken)
            && BearerTokenSyntax.FindInvalid(token.AccessToken) < 0 // a store may hold what the token endpoint would not pass
            && (current is null || (token.ExpiresAt > current.Token.ExpiresAt && !string.Equals(token.AccessToken, current.Token.AccessToken, StringComparison.Ordinal)));
        (usable ? M3terAuthDiagnostics.SharedCacheHits : M3terAuthDiagnostics.SharedCacheMisses).Add(1);
        return usable ? new M3terToken(token!.AccessToken, token.TokenType, token.ExpiresAt, token.IssuedAt) : null;
    }

    /// <summary>
    /// A call to the shared cache, which must not fail the provider: implementations treat their store's failures as
    /// misses, and anything that still escapes (other than the provider's own disposal) is treated as one here.
    /// </summary>
    private async Task<T> Shared<T>(Func<ValueTask<T>> call, T fallback = default!)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && _disposed.IsCancellationRequested))
        {
            Log.SharedCacheFailed(_logger, ex.GetType().Name);
            return fallback;
        }
    }

    private Task<bool> Shared(Func<ValueTask> call) =>
        Shared(async () =>
        {
            await call().ConfigureAwait(false);
            return true;
        });

    private TimeSpan Jittered(TimeSpan interval) => TimeSpan.FromTicks((long)(interval.Ticks * (0.5 + Random())));

    /// <summary>
    /// Another process holds the lease and is refreshing: keep serving the current token and look again soon (not a
    /// failure). False, with nothing changed, when the current token is no longer the one to serve (refused, replaced
    /// or expired while this refresh ran).
    /// </summary>
    private bool TryDefer(CacheEntry current, TaskCompletionSource<M3terToken> completion)
    {
        lock (_gate)
        {
            long now = _timeProvider.GetUtcNow().UtcTicks;
            if (!ReferenceEquals(Volatile.Read(ref _entry), current) || now >= current.ExpiresAtTicks)
            {
                return false;
            }

            if (RetryPoint(current, now, Jittered(DeferredRefreshRetry).Ticks) is long retryAt && !_retired)
            {
                // Invalidate swaps the entry without _gate: only a compare-and-swap knows current is still it.
                var postponed = new CacheEntry(current.Token, retryAt, current.ExpiresAtTicks, current.Foreign);
                if (Interlocked.CompareExchange(ref _entry, postponed, current) != current)
                {
                    postponed.Dispose();
                    return false;
                }

                current.Dispose();
                postponed.Start(_timeProvider, _self);
            }

            ClearFetch(completion.Task);
        }

        completion.TrySetResult(current.Token);
        return true;
    }

    /// <summary>An <see cref="OperationCanceledException"/> nobody asked for (an <c>HttpClient.Timeout</c> in a custom client) is a failure like any other.</summary>
    private static Exception Describe(Exception exception) =>
        exception is OperationCanceledException
            ? new M3terAuthException("The m3ter token request was cancelled although nobody asked it to stop, most likely by a timeout in the ITokenClient or its HttpClient: " + exception.Message, exception)
            : exception;

    private void Fail(CacheEntry? current, Exception failure, TaskCompletionSource<M3terToken> completion)
    {
        bool covered = false;
        bool retired;
        int failures = 0;
        TimeSpan retryIn = default;
        lock (_gate)
        {
            ClearFetch(completion.Task);
            retired = _retired;
            Volatile.Write(ref _lastFailure, failure);
            long now = _timeProvider.GetUtcNow().UtcTicks;
            if (failure is M3terAuthException { IsRemembered: true } rejected && _options.RejectedCredentialsCacheDuration > TimeSpan.Zero)
            {
                Volatile.Write(ref _rejection, new Rejection(rejected, now, RememberedUntil(now)));
            }

            // A background refresh while the token is still valid: keep serving it and try again later, backing off
            // (and not before a remembered rejection expires: the same credentials would be refused again).
            if (current is not null && now < current.ExpiresAtTicks && !retired && ReferenceEquals(Volatile.Read(ref _entry), current))
            {
                int next = Volatile.Read(ref _refreshFailures) + 1;
                covered = true;
                Volatile.Write(ref _refreshFailures, next);
                failures = next;
                if (RetryPoint(current, now, BackoffTicks(now, next)) is long retryAt)
                {
                    var postponed = new CacheEntry(current.Token, retryAt, current.ExpiresAtTicks, current.Foreign);
                    if (Interlocked.CompareExchange(ref _entry, postponed, current) == current)
                    {
                        current.Dispose();
                        retryIn = TimeSpan.FromTicks(retryAt - now);
                        postponed.Start(_timeProvider, _self);
                    }
                }
                else
                {
                    retryIn = TimeSpan.FromTicks(current.ExpiresAtTicks - now); // too close to expiry: the next caller fetches
                }
            }
        }

        // The callers first: nothing below (a logger that throws) may keep them waiting.
        completion.TrySetException(failure);

        // Error only when callers are failed; a failure a valid token covers is a warning, once; a replaced provider's, a debug line.
        if (retired)
        {
            Log.RetiredRequestFailed(_logger, failure.Message);
        }
        else if (!covered)
        {
            Log.TokenUnavailable(_logger, failure.Message);
        }
        else if (failures == 1)
        {
            Log.BackgroundRefreshFailed(_logger, current!.Token.ExpiresAt, retryIn, failure.Message);
        }
        else
        {
            Log.BackgroundRefreshStillFailing(_logger, failures, retryIn, failure.Message);
        }
    }

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

    private void Clear(Task<M3terToken> fetch)
    {
        lock (_gate)
        {
            ClearFetch(fetch);
        }
    }

    private void ClearFetch(Task<M3terToken> fetch)
    {
        if (ReferenceEquals(_fetch, fetch))
        {
            Volatile.Write(ref _fetch, null);
        }
    }

    /// <summary>Caches a new entry (under <c>_gate</c>, after the request that produced it is cleared), retires the one it replaces, and starts its timer.</summary>
    private void Publish(CacheEntry entry)
    {
        Interlocked.Exchange(ref _entry, entry)?.Dispose();
        entry.Start(_timeProvider, _self);
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
