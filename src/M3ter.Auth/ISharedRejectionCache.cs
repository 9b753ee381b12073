using System.Threading;
using System.Threading.Tasks;

namespace M3ter.Auth;

/// <summary>
/// What an <see cref="ISharedTokenCache"/> can add so a fleet shares a refusal as it shares a token: when m3ter
/// refuses the credentials, the process that asked writes the refusal, and the processes waiting for its lease (or
/// starting cold) read it and fail at once, instead of taking the lease one after another and each being refused in
/// turn. Optional: <see cref="TokenProvider"/> uses it when its shared cache implements it.
/// </summary>
/// <remarks>
/// <para><b>When the provider calls it.</b> <see cref="WriteRejectionAsync"/> after its own token request was refused
/// (400, 401, 403), before it releases the lease, when
/// <see cref="M3terAuthOptions.RejectedCredentialsCacheDuration"/> is above zero. <see cref="ReadRejectionAsync"/>
/// only when a read of the token missed: before it takes the lease, and while it waits for another process's. A
/// refusal it reads fails its callers like one of its own, and is remembered for its own
/// <see cref="M3terAuthOptions.RejectedCredentialsCacheDuration"/>. A refusal made before a token it has served
/// was issued is over (the credentials worked since), and is ignored.</para>
/// <para><b>What implementations must do.</b> As for <see cref="ISharedTokenCache"/>: treat the store's failures as
/// "no refusal" and never throw; keep the entry encrypted under keys the <see cref="SharedTokenScope"/> derives, so
/// nothing without the secret can read it or forge one; let it expire at <see cref="SharedRejection.Until"/>; and
/// remove it when a token for the same scope is written (the credentials work again); never write or return one made
/// no later than the stored token was issued, so a late write or one written back cannot outlive a newer token.</para>
/// </remarks>
public interface ISharedRejectionCache
{
    /// <summary>Reads the refusal shared for <paramref name="scope"/>.</summary>
    /// <param name="scope">Whose credentials.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The refusal, or <see langword="null"/> when there is none in force or the store cannot be read.</returns>
    ValueTask<SharedRejection?> ReadRejectionAsync(SharedTokenScope scope, CancellationToken cancellationToken = default);

    /// <summary>Shares that m3ter refused <paramref name="scope"/>'s credentials, until <see cref="SharedRejection.Until"/>.</summary>
    /// <param name="scope">Whose credentials.</param>
    /// <param name="rejection">The refusal.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>A task that completes when the refusal is written or the attempt gave up.</returns>
    ValueTask WriteRejectionAsync(SharedTokenScope scope, SharedRejection rejection, CancellationToken cancellationToken = default);
}
