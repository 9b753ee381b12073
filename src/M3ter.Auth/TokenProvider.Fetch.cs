using System;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;

namespace M3ter.Auth;

// One token request at a time (single flight): started, published, deferred or failed.
public sealed partial class TokenProvider
{
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
            if (_fleet is null)
            {
                token = await _tokenClient.RequestTokenAsync(_disposed.Token).ConfigureAwait(false);
            }
            else
            {
                token = await _fleet.ObtainAsync(current?.Token, _disposed.Token).ConfigureAwait(false);
                if (token is null && TryDefer(current!, completion))
                {
                    return;
                }

                // The token this refresh would have gone on serving was refused or expired meanwhile, and callers may
                // be waiting on this request: get a new one the way a cold start does (which waits for the lease).
                // With no current token, it never defers (returns null).
                token ??= (await _fleet.ObtainAsync(null, _disposed.Token).ConfigureAwait(false))!;
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

            if (RetryPoint(current, now, Jittered(RefreshSchedule.DeferredRefreshRetry).Ticks) is long retryAt && !_retired && !TryPostpone(current, retryAt))
            {
                return false;
            }

            ClearFetch(completion.Task);
        }

        completion.TrySetResult(current.Token);
        return true;
    }

    /// <summary>
    /// Puts off the refresh of <paramref name="current"/> to <paramref name="retryAtTicks"/>: a copy due then replaces it
    /// and its timer starts. False, with nothing changed, when <paramref name="current"/> is no longer the entry:
    /// <see cref="Invalidate"/> swaps the entry without <c>_gate</c>, so only a compare-and-swap knows.
    /// </summary>
    private bool TryPostpone(CacheEntry current, long retryAtTicks)
    {
        var postponed = new CacheEntry(current.Token, retryAtTicks, current.ExpiresAtTicks, current.Foreign);
        if (Interlocked.CompareExchange(ref _entry, postponed, current) != current)
        {
            postponed.Dispose();
            return false;
        }

        current.Dispose();
        postponed.Start(_timeProvider, _self);
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
                    if (TryPostpone(current, retryAt))
                    {
                        retryIn = TimeSpan.FromTicks(retryAt - now);
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
        if (entry.Token.IssuedAt.UtcTicks > Volatile.Read(ref _newestIssuedTicks))
        {
            Volatile.Write(ref _newestIssuedTicks, entry.Token.IssuedAt.UtcTicks); // under _gate: no other writer
        }

        Interlocked.Exchange(ref _entry, entry)?.Dispose();
        entry.Start(_timeProvider, _self);
    }
}
