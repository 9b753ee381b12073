using System.Threading;
using System.Threading.Tasks;

namespace M3ter.Auth;

/// <summary>Provides a valid m3ter access token, cached and refreshed before it expires. Safe for any number of concurrent callers.</summary>
public interface ITokenProvider
{
    /// <summary>Gets a valid access token: the cached one when it is still valid, otherwise a new one shared by every concurrent caller.</summary>
    /// <param name="cancellationToken">Cancels this caller's wait only; a token request other callers share goes on.</param>
    /// <returns>A token that has not expired.</returns>
    /// <exception cref="M3terAuthException">No valid token could be obtained.</exception>
    /// <exception cref="System.OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    ValueTask<M3terToken> GetTokenAsync(CancellationToken cancellationToken = default);

    /// <summary>Drops the cached token if it is still <paramref name="token"/>, so the next call fetches a new one.</summary>
    /// <param name="token">The token the server refused.</param>
    void Invalidate(M3terToken token);
}
