using System;
using System.Globalization;

namespace M3ter.Auth;

/// <summary>One tenant's m3ter service user: an access key id and its API secret, with the organization and hosts they belong to.</summary>
/// <remarks><see cref="ToString"/> shows the key id and the addresses, never the secret.</remarks>
public sealed class M3terCredentials
{
    /// <summary>Initializes a new instance of the <see cref="M3terCredentials"/> class.</summary>
    /// <param name="accessKeyId">The service user's access key id.</param>
    /// <param name="apiSecret">The service user's API secret.</param>
    /// <exception cref="ArgumentNullException"><paramref name="accessKeyId"/> or <paramref name="apiSecret"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="accessKeyId"/> or <paramref name="apiSecret"/> is empty or white space.</exception>
    public M3terCredentials(string accessKeyId, string apiSecret)
    {
        if (accessKeyId is null)
        {
            throw new ArgumentNullException(nameof(accessKeyId));
        }

        if (apiSecret is null)
        {
            throw new ArgumentNullException(nameof(apiSecret));
        }

        if (string.IsNullOrWhiteSpace(accessKeyId))
        {
            throw new ArgumentException("The access key id must not be empty.", nameof(accessKeyId));
        }

        if (string.IsNullOrWhiteSpace(apiSecret))
        {
            throw new ArgumentException("The API secret must not be empty.", nameof(apiSecret));
        }

        AccessKeyId = accessKeyId.Trim();
        ApiSecret = apiSecret.Trim();
    }

    /// <summary>Gets the service user's access key id.</summary>
    public string AccessKeyId { get; }

    /// <summary>Gets the service user's API secret.</summary>
    public string ApiSecret { get; }

    /// <summary>Gets the m3ter organization these credentials belong to, if known (for your own use: m3ter's paths carry it).</summary>
    public string? OrganizationId { get; init; }

    /// <summary>Gets the base address of m3ter's config API and token endpoint.</summary>
    /// <value>Defaults to <c>https://api.m3ter.com/</c>, as <see cref="M3terAuthOptions.BaseAddress"/> does.</value>
    public Uri BaseAddress { get; init; } = M3terAuthOptions.DefaultBaseAddress;

    /// <summary>Gets the base address of m3ter's ingest API.</summary>
    /// <value>Defaults as <see cref="M3terAuthOptions.IngestBaseAddress"/> does: the ingest host next to <see cref="BaseAddress"/> (<c>https://ingest.m3ter.com/</c> for m3ter's own).</value>
    public Uri IngestBaseAddress
    {
        get => ExplicitIngestBaseAddress ?? M3terAuthOptions.DefaultIngestAddressFor(BaseAddress ?? M3terAuthOptions.DefaultBaseAddress);
        init => ExplicitIngestBaseAddress = value;
    }

    /// <summary>Gets the ingest address set explicitly, if any (otherwise it follows <see cref="BaseAddress"/>).</summary>
    internal Uri? ExplicitIngestBaseAddress { get; private init; }

    /// <summary>Returns a description that shows the key id, organization and base address, never the secret.</summary>
    /// <returns>The description, with the secret as <c>***</c>.</returns>
    public override string ToString() => string.Format(
        CultureInfo.InvariantCulture,
        "M3terCredentials {{ AccessKeyId = {0}, ApiSecret = ***, OrganizationId = {1}, BaseAddress = {2} }}",
        AccessKeyId,
        OrganizationId ?? "(none)",
        BaseAddress);

    /// <summary>Whether two lookups returned the same service user at the same hosts (a rotation changes the key or secret).</summary>
    internal bool IsSameAs(M3terCredentials other) =>
        string.Equals(AccessKeyId, other.AccessKeyId, StringComparison.Ordinal)
        && string.Equals(ApiSecret, other.ApiSecret, StringComparison.Ordinal)
        && BaseAddress == other.BaseAddress
        && ExplicitIngestBaseAddress == other.ExplicitIngestBaseAddress
        && string.Equals(OrganizationId, other.OrganizationId, StringComparison.Ordinal);
}
