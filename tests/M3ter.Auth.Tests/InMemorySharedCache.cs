using System;
using System.Collections.Concurrent;
using System.Threading;
using System.Threading.Tasks;

namespace M3ter.Auth.Tests;

/// <summary>An in-memory shared cache with the Redis semantics: write if newer, compare-and-delete, an exclusive lease.</summary>
internal class InMemorySharedCache : ISharedTokenCache
{
    private readonly object _gate = new();
    private string? _leaseOwner;
    private int _leaseRefusals;

    public ConcurrentQueue<string> Calls { get; } = new();

    public M3terToken? Stored { get; set; }

    public bool LeaseHeldElsewhere { get; set; }

    public bool FailRemovals { get; set; }

    public int LeaseRefusals => Volatile.Read(ref _leaseRefusals);

    public TimeSpan LeaseWaitTimeout => TimeSpan.FromSeconds(3);

    public string? Unavailable { get; set; }

    public ValueTask<M3terToken?> ReadAsync(SharedTokenScope scope, CancellationToken cancellationToken = default)
    {
        Calls.Enqueue("read");
        lock (_gate)
        {
            return new ValueTask<M3terToken?>(Stored);
        }
    }

    public ValueTask<bool> TryAcquireLeaseAsync(SharedTokenScope scope, CancellationToken cancellationToken = default)
    {
        Calls.Enqueue("lease");
        lock (_gate)
        {
            if (LeaseHeldElsewhere || _leaseOwner is not null)
            {
                _leaseRefusals++;
                return new ValueTask<bool>(false);
            }

            _leaseOwner = scope.LeaseOwner;
            return new ValueTask<bool>(true);
        }
    }

    public ValueTask ReleaseLeaseAsync(SharedTokenScope scope, CancellationToken cancellationToken = default)
    {
        Calls.Enqueue("release");
        lock (_gate)
        {
            if (_leaseOwner == scope.LeaseOwner)
            {
                _leaseOwner = null;
            }
        }

        return default;
    }

    public ValueTask WriteIfNewerAsync(SharedTokenScope scope, M3terToken token, CancellationToken cancellationToken = default)
    {
        Calls.Enqueue("write");
        lock (_gate)
        {
            if (Stored is null || Stored.ExpiresAt < token.ExpiresAt)
            {
                Stored = token;
                OnWritten();
            }
        }

        return default;
    }

    /// <summary>Called under the cache's lock when a token was written.</summary>
    protected virtual void OnWritten()
    {
    }

    public ValueTask RemoveIfHoldsAsync(SharedTokenScope scope, M3terToken token, CancellationToken cancellationToken = default)
    {
        Calls.Enqueue("remove");
        lock (_gate)
        {
            if (!FailRemovals && Stored?.AccessToken == token.AccessToken)
            {
                Stored = null;
            }
        }

        return default;
    }
}

/// <summary>The in-memory cache that also shares refusals, as the Redis one does: until they run out, or a token is written.</summary>
internal sealed class InMemoryRejectionSharingCache(TimeProvider time) : InMemorySharedCache, ISharedRejectionCache
{
    public SharedRejection? Rejection { get; set; }

    public ValueTask<SharedRejection?> ReadRejectionAsync(SharedTokenScope scope, CancellationToken cancellationToken = default)
    {
        Calls.Enqueue("read_rejection");
        SharedRejection? rejection = Rejection;
        return new ValueTask<SharedRejection?>(rejection is not null && rejection.Until > time.GetUtcNow() ? rejection : null);
    }

    public ValueTask WriteRejectionAsync(SharedTokenScope scope, SharedRejection rejection, CancellationToken cancellationToken = default)
    {
        Calls.Enqueue("write_rejection");
        Rejection = rejection;
        return default;
    }

    protected override void OnWritten() => Rejection = null;
}
