using System.Threading;
using System.Threading.Tasks;

namespace M3ter.Auth;

/// <summary>Requests access tokens from m3ter's token endpoint. Every call is a new request: use <see cref="ITokenProvider"/> to cache.</summary>
public interface ITokenClient
{
    /// <summary>Requests a new access token with the client credentials grant.</summary>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The token, whose expiry is counted from the moment the request was sent.</returns>
    /// <exception cref="M3terAuthException">No token could be obtained.</exception>
    /// <exception cref="System.OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    Task<M3terToken> RequestTokenAsync(CancellationToken cancellationToken = default);
}
