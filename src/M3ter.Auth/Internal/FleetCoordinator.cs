using System;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace M3ter.Auth.Internal;

/// <summary>
/// What a <see cref="FleetCoordinator"/> asks of the provider it obtains tokens for.
/// </summary>
internal interface IFleetMember
{
    /// <summary>Gets when the newest token the provider has served was issued (a fleet's refusal older than that is over).</summary>
    long NewestIssuedTicks { get; }

    /// <summary>Whether the provider still serves <paramref name="token"/>: it has not been refused, replaced or dropped.</summary>
    bool Serves(M3terToken token);

    /// <summary>A number in [0, 1) for jitter.</summary>
    double NextJitter();
}

/// <summary>
/// The fleet's way to a token through an <see cref="ISharedTokenCache"/>, behind one call (<see cref="ObtainAsync"/>):
/// adopt a shared token, or take the lease, request one and share it, or wait for the process that holds the lease; and
/// share a refusal of the credentials, so the fleet does not ask again. One per provider with a shared cache.
/// </summary>
internal sealed class FleetCoordinator
{
    /// <summary>How often a process waiting for another's lease reads the shared cache (±50%).</summary>
    private static readonly TimeSpan LeasePollInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>How often that process also tries to take the lease over (a holder that gave up or died leaves it free).</summary>
    private static readonly TimeSpan LeaseRetryInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>A shared token that expires sooner than this is not worth adopting.</summary>
    private static readonly TimeSpan MinSharedRemaining = TimeSpan.FromSeconds(1);

    private readonly ISharedTokenCache _shared;
    private readonly SharedTokenScope _scope;
    private readonly ITokenClient _tokenClient;
    private readonly M3terAuthOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly IFleetMember _member;
    private readonly CancellationToken _stopped;

    // Tokens m3ter refused: removed from the shared cache (compare and delete) by the next request, and never adopted.
    private readonly RefusedTokens _refused = new();

    /// <param name="shared">The fleet's cache.</param>
    /// <param name="tokenClient">Where a token comes from when the fleet has none.</param>
    /// <param name="options">The provider's validated options: credentials, address, refresh and rejection settings.</param>
    /// <param name="timeProvider">The provider's clock.</param>
    /// <param name="logger">The provider's logger.</param>
    /// <param name="member">The provider.</param>
    /// <param name="stopped">Cancelled when the provider is disposed: a cache call cancelled by it is not a cache failure.</param>
    public FleetCoordinator(ISharedTokenCache shared, ITokenClient tokenClient, M3terAuthOptions options, TimeProvider timeProvider, ILogger logger, IFleetMember member, CancellationToken stopped)
    {
        _shared = shared;
        _scope = new SharedTokenScope(options.BaseAddress, options.AccessKeyId, options.ApiSecret);
        _tokenClient = tokenClient;
        _options = options;
        _timeProvider = timeProvider;
        _logger = logger;
        _member = member;
        _stopped = stopped;
    }

    /// <summary>Gets why the shared cache is unavailable, or null (see <see cref="ISharedTokenCache.Unavailable"/>).</summary>
    public string? Unavailable => _shared.Unavailable;

    /// <summary>Remembers a token m3ter refused: the next request removes it from the shared cache, and it is never adopted.</summary>
    public void Refuse(M3terToken token) => _refused.Add(token);

    /// <summary>
    /// Obtains a token the fleet's way: adopt a usable shared token; else take the lease, read again, request one and
    /// share it; else (another process holds the lease) wait for its token a bounded time, or, for a background
    /// refresh of <paramref name="current"/> while it is still good, look again a little later (null) instead of waiting.
    /// </summary>
    /// <param name="current">The token a background refresh replaces, or null when there is none to serve meanwhile.</param>
    /// <param name="cancellationToken">Stops the attempt.</param>
    /// <returns>The token, or null (only with <paramref name="current"/>): try again later, go on serving the current one.</returns>
    public async Task<M3terToken?> ObtainAsync(M3terToken? current, CancellationToken cancellationToken)
    {
        foreach (M3terToken refused in _refused.TakePending())
        {
            await Shared(() => _shared.RemoveIfHoldsAsync(_scope, refused, cancellationToken)).ConfigureAwait(false);
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
        if (current is not null && _member.Serves(current) && Now < current.ExpiresAt.UtcTicks)
        {
            return null;
        }

        // Wait for the holder's token; take the lease over if the holder gives it up without one (its request failed,
        // or it crashed and the lease expired); stop waiting if the shared cache becomes unavailable.
        // The holder renews its lease while it works, so a free lease means it gave up or died: only then is the lease
        // taken over. Reads are cheap and frequent; attempts on the lease are rarer.
        M3terAuthDiagnostics.SharedCacheLeaseWaits.Add(1);
        long deadline = Now + _shared.LeaseWaitTimeout.Ticks;
        long nextLeaseAttempt = Now + LeaseRetryInterval.Ticks;
        while (Now < deadline && _shared.Unavailable is null)
        {
            await _timeProvider.DelayAsync(RefreshSchedule.Jittered(LeasePollInterval, _member.NextJitter()), cancellationToken).ConfigureAwait(false);
            if (await ReadUsableAsync(current, cancellationToken).ConfigureAwait(false) is M3terToken delivered)
            {
                return delivered;
            }

            await ThrowIfRefusedForTheFleetAsync(cancellationToken).ConfigureAwait(false); // the holder was refused

            if (Now < nextLeaseAttempt)
            {
                continue;
            }

            nextLeaseAttempt = Now + LeaseRetryInterval.Ticks;
            if (await TryUnderLeaseAsync(current, cancellationToken).ConfigureAwait(false) is M3terToken ownRequest)
            {
                return ownRequest;
            }
        }

        // The holder did not deliver in time: request one ourselves. The lease only saves duplicate requests.
        return await RequestAndShareAsync(cancellationToken).ConfigureAwait(false);
    }

    private long Now => _timeProvider.GetUtcNow().UtcTicks;

    /// <summary>Takes the lease if it is free, and then adopts a token shared meanwhile or requests and shares one; null when another process holds the lease.</summary>
    private async Task<M3terToken?> TryUnderLeaseAsync(M3terToken? current, CancellationToken cancellationToken)
    {
        if (!await Shared(() => _shared.TryAcquireLeaseAsync(_scope, cancellationToken), fallback: true).ConfigureAwait(false))
        {
            return null;
        }

        // "Go ahead" because the store is unavailable (slow or down), during a refresh while the token has time left:
        // not urgent, so try again shortly instead of fetching now, as every other process of the fleet would too.
        if (current is not null
            && _shared.Unavailable is not null
            && _member.Serves(current)
            && RefreshSchedule.MayDeferRefresh(current.IssuedAt.UtcTicks, current.ExpiresAt.UtcTicks, Now, _options.RefreshBeforeExpiry))
        {
            await Shared(() => _shared.ReleaseLeaseAsync(_scope, CancellationToken.None)).ConfigureAwait(false);
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
            await Shared(() => _shared.ReleaseLeaseAsync(_scope, CancellationToken.None)).ConfigureAwait(false);
        }
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
            var until = new DateTimeOffset(RefreshSchedule.RememberedUntil(now.UtcTicks, _options.RejectedCredentialsCacheDuration), TimeSpan.Zero);
            var rejection = new SharedRejection(refused.StatusCode!.Value, refused.Error, now, until);
            await Shared(() => rejections.WriteRejectionAsync(_scope, rejection, CancellationToken.None)).ConfigureAwait(false);
            throw;
        }

        await Shared(() => _shared.WriteIfNewerAsync(_scope, token, cancellationToken)).ConfigureAwait(false);
        return token;
    }

    /// <summary>Fails like m3ter did if another process of the fleet shared, and still stands by, a refusal of these credentials.</summary>
    private async Task ThrowIfRefusedForTheFleetAsync(CancellationToken cancellationToken)
    {
        if (_shared is not ISharedRejectionCache rejections
            || await Shared(() => rejections.ReadRejectionAsync(_scope, cancellationToken)).ConfigureAwait(false) is not SharedRejection rejection
            || rejection.Until <= _timeProvider.GetUtcNow()
            || rejection.RefusedAt.UtcTicks <= _member.NewestIssuedTicks)
        {
            return; // none, run out, or over: a token this provider served was issued after it (the key works again)
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
    private async Task<M3terToken?> ReadUsableAsync(M3terToken? current, CancellationToken cancellationToken)
    {
        M3terToken? token = await Shared(() => _shared.ReadAsync(_scope, cancellationToken)).ConfigureAwait(false);
        bool usable = token is not null
            && token.ExpiresAt.UtcTicks - Now >= MinSharedRemaining.Ticks
            && !_refused.Contains(token.AccessToken)
            && BearerTokenSyntax.FindInvalid(token.AccessToken) < 0 // a store may hold what the token endpoint would not pass
            && (current is null || (token.ExpiresAt > current.ExpiresAt && !string.Equals(token.AccessToken, current.AccessToken, StringComparison.Ordinal)));
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
        catch (Exception ex) when (!(ex is OperationCanceledException && _stopped.IsCancellationRequested))
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
}
