using System.Net.Http.Headers;

namespace M3ter.Auth.Internal;

/// <summary>
/// The <c>Authorization</c> value of an <see cref="M3terToken"/>: a type of its own, so that the handler can tell a
/// value it set from one the caller set, and take its own off a request that is leaving for a host out of scope.
/// </summary>
internal sealed class M3terBearerHeaderValue(string accessToken) : AuthenticationHeaderValue("Bearer", accessToken);
