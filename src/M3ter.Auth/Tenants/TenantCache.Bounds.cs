using System;
using System.Collections.Generic;
using System.Threading;
using M3ter.Auth.Internal;

namespace M3ter.Auth.Tenants;

// What keeps the cache bounded: holding a tenant, the least recently used out, idle tenants swept.
internal sealed partial class TenantCache
{
    /// <summary>Marks the tenant used now: the least recently used tenant is the one with the lowest mark.</summary>
    private void Touch(TenantState state)
    {
        // Not atomic: two threads may write the same mark. The order of tenants used at the same moment does not matter.
        long mark = _clock.Value + 1;
        _clock.Value = mark;
        Volatile.Write(ref state.LastUse, mark);
    }

    private TenantState Create(string tenant, M3terCredentials credentials)
    {
        M3terAuthOptions options = _options.ToAuthOptions(credentials);
        List<string> errors = M3terAuthOptionsValidator.Collect(options, nameof(M3terCredentials));
        if (errors.Count > 0)
        {
            throw new M3terAuthException($"The credentials the source gave for m3ter tenant '{tenant}' are not valid, so no token was requested: " + string.Join(" ", errors));
        }

        return new TenantState(tenant, credentials, _createProvider(options), this, _timeProvider.GetUtcNow().UtcTicks);
    }

    /// <summary>Holds a looked-up tenant (under <c>_gate</c>), making room by dropping the least recently used ones.</summary>
    private void Hold(TenantState state)
    {
        Touch(state);
        state.SeenUse = state.LastUse;
        _held[state.Tenant] = state;
        state.IsHeld = true;
        _count++;
        M3terAuthDiagnostics.TenantsHeld.Add(1);
        while (_count > _options.MaxTenants && LeastRecentlyUsed(state) is TenantState oldest)
        {
            Drop(oldest, "capacity");
        }
    }

    private TenantState? LeastRecentlyUsed(TenantState except)
    {
        TenantState? oldest = null;
        foreach (KeyValuePair<string, TenantState> pair in _held)
        {
            TenantState candidate = pair.Value;
            if (!ReferenceEquals(candidate, except) && (oldest is null || Volatile.Read(ref candidate.LastUse) < Volatile.Read(ref oldest.LastUse)))
            {
                oldest = candidate;
            }
        }

        return oldest;
    }

    /// <summary>Stops holding a tenant (under <c>_gate</c>). Its provider is retired, not disposed: a call in flight still gets its token.</summary>
    private void Drop(TenantState state, string reason)
    {
        if (_held.TryGetValue(state.Tenant, out TenantState? current) && ReferenceEquals(current, state))
        {
            _held.TryRemove(state.Tenant, out _);
            state.IsHeld = false;
            _count--;
            M3terAuthDiagnostics.TenantsHeld.Add(-1);
            M3terAuthDiagnostics.TenantEvictions.Add(1, new KeyValuePair<string, object?>("reason", reason));
            Log.TenantDropped(_logger, state.Tenant, reason);
        }

        state.Provider.Replaceable().Retire();
    }

    /// <summary>
    /// Drops the tenants unused for the idle timeout. A tenant used since the previous sweep counts as idle from that
    /// sweep on, so it is dropped within one sweep period (a thirtieth of the timeout) of the timeout after its last
    /// use, without the warm path ever reading the clock.
    /// </summary>
    private void Sweep()
    {
        lock (_gate)
        {
            if (_isDisposed)
            {
                return;
            }

            long now = _timeProvider.GetUtcNow().UtcTicks;
            foreach (KeyValuePair<string, TenantState> pair in _held)
            {
                TenantState state = pair.Value;
                long use = Volatile.Read(ref state.LastUse);
                if (use != state.SeenUse)
                {
                    state.SeenUse = use;
                    state.IdleSinceTicks = Math.Max(state.IdleSinceTicks, _lastSweepTicks);
                }
                else if (now - state.IdleSinceTicks >= _idleTicks)
                {
                    Drop(state, "idle");
                }
            }

            _lastSweepTicks = now;
            PruneUnknown(now);
        }
    }

    /// <summary>The use clock, on a cache line of its own so that its writes do not slow the reads of the fields around it.</summary>
    private sealed class UseClock
    {
#pragma warning disable CS0169, IDE0051 // padding
        private readonly long _p1, _p2, _p3, _p4, _p5, _p6, _p7;
#pragma warning restore CS0169, IDE0051
        public long Value;
#pragma warning disable CS0169, IDE0051
        private readonly long _q1, _q2, _q3, _q4, _q5, _q6, _q7;
#pragma warning restore CS0169, IDE0051
    }
}
