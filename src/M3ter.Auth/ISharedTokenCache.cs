using System;
using System.Threading;
using System.Threading.Tasks;

namespace M3ter.Auth;

/// <summary>
/// A token cache shared by a fleet of processes (Redis, a database, a cloud cache), so that they make one token request
/// per token lifetime between them instead of one each. Plug one into <see cref="TokenProvider"/> (or register one in
/// DI, as <c>AddM3terAuthRedisTokenCache</c> does); the provider decides when to use it.
/// </summary>
/// <remarks>
/// <para><b>When the provider calls it.</b> Never for a valid token before its refresh point: that stays one flag read
/// in memory. Only on a miss (no valid token in the process), when a refresh is due, and after m3ter refused a token.
/// On a miss it reads; if there is nothing usable it tries to take the lease, reads again, requests a token, writes it
/// and releases the lease. A process that finds the lease taken polls <see cref="ReadAsync"/> for up to
/// <see cref="LeaseWaitTimeout"/>, then requests a token itself. A background refresh first adopts a newer shared
/// token, then tries the lease, and never waits for another process's lease. The lease only saves duplicate requests:
/// nothing depends on it for correctness. A cache that also implements <see cref="ISharedRejectionCache"/> shares
/// m3ter's refusal of the credentials the same way.</para>
/// <para><b>What implementations must do.</b> Be safe for concurrent use. Treat every failure of the store (an outage, a
/// timeout, an entry that does not decrypt) as a miss: return <see langword="null"/> or do nothing, and never throw to
/// the provider or make it wait longer than a short, bounded timeout. Keep the entry secret: the
/// <see cref="SharedTokenScope"/> derives keys from the API secret for naming and encrypting it, so processes that
/// share the credentials share the entry and nothing else can read it.</para>
/// </remarks>
public interface ISharedTokenCache
{
    /// <summary>Gets how long a process that finds the lease taken waits for that holder's token before requesting one itself.</summary>
    TimeSpan LeaseWaitTimeout { get; }

    /// <summary>Gets why the shared cache is not in use right now (its store unreachable, a circuit breaker open), or <see langword="null"/> when it is.</summary>
    /// <remarks>The health check reports Degraded while this is set. Never include a secret or a token.</remarks>
    string? Unavailable { get; }

    /// <summary>Reads the shared token for <paramref name="scope"/>.</summary>
    /// <param name="scope">Whose token: the base address and credentials.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The token, or <see langword="null"/> when there is none or the store cannot be read.</returns>
    ValueTask<M3terToken?> ReadAsync(SharedTokenScope scope, CancellationToken cancellationToken = default);

    /// <summary>Tries to take the lease for requesting a new token, for <see cref="SharedTokenScope.LeaseOwner"/>.</summary>
    /// <param name="scope">Whose token.</param>
    /// <param name="cancellationToken">Cancels the attempt.</param>
    /// <returns>
    /// <see langword="true"/> when this process should request the token: it now holds the lease, or the store is
    /// unavailable and nothing can be coordinated; <see langword="false"/> when another process holds the lease.
    /// </returns>
    ValueTask<bool> TryAcquireLeaseAsync(SharedTokenScope scope, CancellationToken cancellationToken = default);

    /// <summary>Releases the lease if <see cref="SharedTokenScope.LeaseOwner"/> still holds it (compare and delete).</summary>
    /// <param name="scope">Whose token.</param>
    /// <param name="cancellationToken">Cancels the release.</param>
    /// <returns>A task that completes when the lease is released or the attempt gave up.</returns>
    ValueTask ReleaseLeaseAsync(SharedTokenScope scope, CancellationToken cancellationToken = default);

    /// <summary>Stores <paramref name="token"/> unless the shared entry already holds a token that expires later.</summary>
    /// <param name="scope">Whose token.</param>
    /// <param name="token">The token just obtained.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>A task that completes when the token is written or the attempt gave up.</returns>
    ValueTask WriteIfNewerAsync(SharedTokenScope scope, M3terToken token, CancellationToken cancellationToken = default);

    /// <summary>Removes the shared entry if it still holds <paramref name="token"/> (compare and delete): m3ter refused that token.</summary>
    /// <param name="scope">Whose token.</param>
    /// <param name="token">The token m3ter refused.</param>
    /// <param name="cancellationToken">Cancels the removal.</param>
    /// <returns>A task that completes when the entry is removed, or found to hold another token, or the attempt gave up.</returns>
    ValueTask RemoveIfHoldsAsync(SharedTokenScope scope, M3terToken token, CancellationToken cancellationToken = default);
}
