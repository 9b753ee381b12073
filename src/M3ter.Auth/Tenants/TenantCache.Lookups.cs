using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;

namespace M3ter.Auth.Tenants;

// Asking the credential source: one lookup per tenant shared by its first callers, unknown tenants remembered briefly, a refused key rechecked once.
internal sealed partial class TenantCache
{
    /// <summary>The tenant's state: held, or looked up (one lookup per tenant, shared by the callers that arrive while it runs).</summary>
    internal async Task<TenantState> GetStateAsync(string tenant, CancellationToken cancellationToken)
    {
        Task<TenantState> lookup;
        Lookup? running;
        lock (_gate)
        {
            if (_isDisposed)
            {
                throw new ObjectDisposedException(nameof(IM3terTenantTokenProvider));
            }

            if (_held.TryGetValue(tenant, out TenantState? held))
            {
                Touch(held);
                return held;
            }

            if (_unknownUntil.TryGetValue(tenant, out long until))
            {
                if (_timeProvider.GetUtcNow().UtcTicks < until)
                {
                    throw UnknownTenant(tenant);
                }

                _unknownUntil.Remove(tenant);
            }

            if (!_lookups.TryGetValue(tenant, out running))
            {
                running = new Lookup();
                _lookups[tenant] = running;

                // On the thread pool, outside the lock, any caller's synchronization context and ExecutionContext: a
                // synchronous Send on a UI thread blocks that thread, so nothing of the lookup may be queued to it.
                _ = DetachedContext.Run(static state => Task.Run(() => state.Cache.LookUpAsync(state.Tenant, state.Lookup)), (Cache: this, Tenant: tenant, Lookup: running));
            }

            running.Waiters++;
            lookup = running.Completion.Task;
        }

        try
        {
            return await lookup.WaitForAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (M3terAuthException shared) when (lookup.IsFaulted)
        {
            throw shared.ForCaller(); // one failed lookup reaches many callers: each gets its own exception
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The last caller to give up abandons the lookup: a source that hangs once does not hold the tenant for
            // good; the next caller asks again (what the abandoned lookup finds is not held).
            lock (_gate)
            {
                if (--running.Waiters == 0 && !lookup.IsCompleted && _lookups.TryGetValue(tenant, out Lookup? current) && ReferenceEquals(current, running))
                {
                    _lookups.Remove(tenant);
                }
            }

            throw;
        }
    }

    /// <summary>Asks the source again after a refusal; returns the state with new credentials, or null when it has none.</summary>
    private async Task<TenantState?> RecheckAsync(TenantState state, CancellationToken cancellationToken)
    {
        Task<TenantState?> recheck;
        lock (_gate)
        {
            if (_held.TryGetValue(state.Tenant, out TenantState? current) && !ReferenceEquals(current, state))
            {
                return current; // another caller's recheck (or a lookup after Forget) already replaced it
            }

            long now = _timeProvider.GetUtcNow().UtcTicks;
            // A recheck that failed (the source threw, or gave invalid credentials) is not kept: the next caller asks again.
            if (state.Recheck is not Task<TenantState?> running
                || running.IsFaulted
                || (running.IsCompleted && now - state.RecheckedAtTicks >= _options.RejectedCredentialsCacheDuration.Ticks))
            {
                state.RecheckedAtTicks = now;
                running = DetachedContext.Run(static s => Task.Run(() => s.Cache.RecheckCoreAsync(s.State)), (Cache: this, State: state));
                ObserveFailure(running);
                state.Recheck = running;
            }

            recheck = running;
        }

        try
        {
            return await recheck.WaitForAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (M3terAuthException shared) when (recheck.IsFaulted)
        {
            throw shared.ForCaller();
        }
    }

    private async Task<TenantState?> RecheckCoreAsync(TenantState state)
    {
        M3terCredentials? credentials;
        try
        {
            credentials = await _source(state.Tenant, _disposed.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && _disposed.IsCancellationRequested))
        {
            M3terAuthDiagnostics.RecordTenantLookup("failed");
            Log.TenantLookupFailed(_logger, state.Tenant, ex.GetType().Name);
            throw SourceFailed(state.Tenant, ex);
        }

        if (credentials is null || credentials.IsSameAs(state.Credentials))
        {
            M3terAuthDiagnostics.RecordTenantLookup(credentials is null ? "unknown" : "unchanged");
            return null;
        }

        TenantState renewed = Create(state.Tenant, credentials);
        lock (_gate)
        {
            if (_isDisposed)
            {
                renewed.Provider.Dispose();
                throw new ObjectDisposedException(nameof(IM3terTenantTokenProvider));
            }

            if (!_held.TryGetValue(state.Tenant, out TenantState? current) || !ReferenceEquals(current, state))
            {
                // Dropped or replaced meanwhile: serve the callers waiting on this recheck, hold nothing.
                renewed.Provider.Replaceable().Retire();
                return renewed;
            }

            _held[state.Tenant] = renewed;
            renewed.LastUse = state.LastUse;
            renewed.SeenUse = state.LastUse;
            renewed.IsHeld = true;
            state.IsHeld = false;
            state.Provider.Replaceable().Retire();
        }

        M3terAuthDiagnostics.RecordTenantLookup("rotated");
        Log.TenantCredentialsRotated(_logger, state.Tenant);
        return renewed;
    }

    private async Task LookUpAsync(string tenant, Lookup lookup)
    {
        TaskCompletionSource<TenantState> completion = lookup.Completion;
        M3terCredentials? credentials;
        try
        {
            credentials = await _source(tenant, _disposed.Token).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // The source's failure is handed to the callers waiting on the lookup.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Finish(tenant, lookup);
            M3terAuthDiagnostics.RecordTenantLookup("failed");
            Log.TenantLookupFailed(_logger, tenant, ex.GetType().Name);
            completion.TrySetException(ex is OperationCanceledException && _disposed.IsCancellationRequested
                ? new ObjectDisposedException(nameof(IM3terTenantTokenProvider))
                : SourceFailed(tenant, ex));
            return;
        }

        if (credentials is null)
        {
            lock (_gate)
            {
                if (Finish(tenant, lookup) && _options.UnknownTenantCacheDuration > TimeSpan.Zero)
                {
                    RememberUnknown(tenant);
                }
            }

            M3terAuthDiagnostics.RecordTenantLookup("unknown");
            completion.TrySetException(UnknownTenant(tenant));
            return;
        }

        TenantState state;
        try
        {
            state = Create(tenant, credentials);
        }
        catch (M3terAuthException invalid)
        {
            Finish(tenant, lookup);
            M3terAuthDiagnostics.RecordTenantLookup("invalid");
            completion.TrySetException(invalid);
            return;
        }

        lock (_gate)
        {
            if (_isDisposed)
            {
                state.Provider.Dispose(); // nothing may request a token after disposal
                completion.TrySetException(new ObjectDisposedException(nameof(IM3terTenantTokenProvider)));
                return;
            }

            if (!Finish(tenant, lookup))
            {
                state.Provider.Replaceable().Retire(); // forgotten (or abandoned) while it ran: answer the waiting callers, hold nothing
            }
            else
            {
                Hold(state);
            }
        }

        M3terAuthDiagnostics.RecordTenantLookup("found");
        completion.TrySetResult(state);
    }

    private static M3terAuthException SourceFailed(string tenant, Exception exception) =>
        new($"The credential source failed to look up m3ter tenant '{tenant}' ({exception.GetType().Name}; see the inner exception), so no token was requested.", exception);

    /// <summary>A failure nobody waits for any more (its callers gave up) is not an unobserved task exception.</summary>
    private static void ObserveFailure(Task task) =>
        task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>Ends a lookup; true when it was still the tenant's current one (not forgotten or abandoned meanwhile).</summary>
    private bool Finish(string tenant, Lookup lookup)
    {
        lock (_gate)
        {
            if (_lookups.TryGetValue(tenant, out Lookup? current) && ReferenceEquals(current, lookup))
            {
                _lookups.Remove(tenant);
                return true;
            }

            return false;
        }
    }

    /// <summary>Remembers an unknown tenant (under <c>_gate</c>), in a map no larger than the tenants held.</summary>
    private void RememberUnknown(string tenant)
    {
        long now = _timeProvider.GetUtcNow().UtcTicks;
        if (_unknownUntil.Count >= _options.MaxTenants)
        {
            PruneUnknown(now);
            if (_unknownUntil.Count >= _options.MaxTenants)
            {
                _unknownUntil.Clear();
            }
        }

        _unknownUntil[tenant] = now + Math.Min(_options.UnknownTenantCacheDuration.Ticks, DateTimeOffset.MaxValue.UtcTicks - now);
    }

    private void PruneUnknown(long now)
    {
        List<string>? expired = null;
        foreach (KeyValuePair<string, long> pair in _unknownUntil)
        {
            if (now >= pair.Value)
            {
                (expired ??= new List<string>()).Add(pair.Key);
            }
        }

        if (expired is not null)
        {
            foreach (string tenant in expired)
            {
                _unknownUntil.Remove(tenant);
            }
        }
    }

    /// <summary>A lookup in flight: what its callers wait on, and how many still do (under <c>_gate</c>).</summary>
    private sealed class Lookup
    {
        public Lookup() => ObserveFailure(Completion.Task);

        public TaskCompletionSource<TenantState> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Waiters;
    }
}
