namespace Ecrm.Recommender.Models;

/// <summary>
/// One interaction of a user with an item. The weight says how strong a signal it is: a deeper dialogue
/// stage (view &lt; details &lt; cart &lt; purchase) carries a larger weight, a MovieLens rating its stars.
/// </summary>
public readonly record struct Interaction(string User, string Item, double Weight, DateTimeOffset Time);
