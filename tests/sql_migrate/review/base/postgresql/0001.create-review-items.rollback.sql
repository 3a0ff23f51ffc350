DROP TABLE review_items;
