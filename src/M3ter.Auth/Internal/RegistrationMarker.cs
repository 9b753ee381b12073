namespace M3ter.Auth.Internal;

/// <summary>Marks a name as registered, so calling <c>AddM3terAuth</c> again only adds configuration, and the warm-up knows every registration.</summary>
internal sealed class RegistrationMarker(string name)
{
    public string Name { get; } = name;
}
