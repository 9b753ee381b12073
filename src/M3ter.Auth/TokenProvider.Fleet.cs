using System;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;

namespace M3ter.Auth;

// The fleet's way to a token through an ISharedTokenCache: adopt, lease, wait, share, and share a refusal.
public sealed partial class TokenProvider
{
    /// <summary>How often a process waiting for another's lease reads the shared cache (±50%).</summary>
    private static readonly TimeSpan LeasePollInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>How often that process also tries to take the lease over (a holder that gave up or died leaves it free).</summary>
    private static readonly TimeSpan LeaseRetryInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>A shared token that expires sooner than this is not worth adopting.</summary>
    private static readonly TimeSpan MinSharedRemaining = TimeSpan.FromSeconds(1);

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
            || rejection.Until <= _timeProvider.GetUtcNow()
            || rejection.RefusedAt.UtcTicks <= Volatile.Read(ref _newestIssuedTicks))
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
}
